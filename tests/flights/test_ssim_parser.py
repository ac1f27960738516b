import datetime as dt
from pathlib import Path

import pytest

from flightdeck.flights.schedules.ssim import SsimLeg, SsimParseResult, parse_ssim

SAMPLE = Path(__file__).parent / "data" / "sample.ssim"
HEADER = "1AIRLINE STANDARD SCHEDULE DATA SET".ljust(194) + "000001"
CARRIER = "2LFD      W26 25OCT2627MAR2715SEP26".ljust(194) + "000002"
# FD101 AMS 0700 +0100 -> LHR 0715 +0000 terminal 2, daily, A320, same-day arrival.
DAILY_LEG = (
    "3 FD 01010101J25OCT2627MAR271234567 AMS07000700+0100  LHR07150715+00002 320CY".ljust(192)
    + "00000003"
)


def _sample() -> SsimParseResult:
    return parse_ssim(SAMPLE.read_text())


def _leg(result: SsimParseResult, flight_number: str, leg_sequence: int = 1) -> SsimLeg:
    (leg,) = (
        leg
        for leg in result.legs
        if leg.flight_number == flight_number and leg.leg_sequence == leg_sequence
    )
    return leg


def _overwrite(record: str, first: int, text: str) -> str:
    """Replace bytes starting at the 1-based SSIM position `first`."""
    return record[: first - 1] + text + record[first - 1 + len(text) :]


def _parse_records(*records: str) -> SsimParseResult:
    return parse_ssim("\n".join([HEADER, CARRIER, *records]) + "\n")


def test_sample_records_are_200_bytes_except_the_truncated_one() -> None:
    lengths = {len(line) for line in SAMPLE.read_text().splitlines()}
    assert lengths == {200, 47}


def test_sample_loads_legs_of_every_carrier_and_the_time_mode() -> None:
    result = _sample()

    assert len(result.legs) == 11
    assert result.carriers == ["FD", "ZX", "Q7"]
    assert result.time_mode == "L"
    assert {leg.airline for leg in result.legs} == {"FD", "ZX", "Q7"}


def test_bad_lines_are_reported_by_line_number_and_good_lines_still_load() -> None:
    result = _sample()

    reasons = {rejection.line_number: rejection.reason for rejection in result.rejected}
    assert sorted(reasons) == [15, 32, 47, 49]
    assert "period from" in reasons[15] and "30FEB27" in reasons[15]
    assert "days of operation" in reasons[32] and "1 3 5 6" in reasons[32]
    assert "arrival station" in reasons[47] and "'HN '" in reasons[47]
    assert "record length" in reasons[49] and "47" in reasons[49]
    loaded_lines = {leg.line_number for leg in result.legs}
    assert {14, 16, 31, 33, 46, 48} <= loaded_lines


def test_daily_leg_fields_are_read_from_their_byte_positions() -> None:
    assert _leg(_sample(), "FD101") == SsimLeg(
        line_number=11,
        airline="FD",
        flight_number="FD101",
        itinerary_variation="01",
        leg_sequence=1,
        service_type="J",
        period_from=dt.date(2026, 10, 25),
        period_to=dt.date(2027, 3, 27),
        days_of_week="1234567",
        origin="AMS",
        destination="LHR",
        departure_local=dt.time(7, 0),
        arrival_local=dt.time(7, 15),
        departure_utc_offset_minutes=60,
        arrival_utc_offset_minutes=0,
        arrival_day_offset=0,
        aircraft_type="320",
        departure_terminal=None,
        arrival_terminal="2",
    )


def test_flight_number_drops_leading_zeros_and_blanks() -> None:
    result = _sample()

    assert {"FD101", "FD641", "ZX13", "ZX202", "Q7451"} <= {
        leg.flight_number for leg in result.legs
    }


def test_days_of_operation_become_flightdeck_mask() -> None:
    result = _sample()

    assert _leg(result, "FD102").days_of_week == "246"
    assert _leg(result, "FD642").days_of_week == "1246"
    assert _leg(result, "ZX13").days_of_week == "1357"


def test_overnight_leg_arrives_next_day() -> None:
    leg = _leg(_sample(), "FD641")

    assert (leg.origin, leg.destination) == ("JFK", "AMS")
    assert leg.arrival_local < leg.departure_local
    assert leg.arrival_day_offset == 1


def test_utc_variations_become_signed_minutes() -> None:
    result = _sample()
    transatlantic = _leg(result, "FD641")
    transpacific = _leg(result, "Q7451")

    assert transatlantic.departure_utc_offset_minutes == -5 * 60
    assert transatlantic.arrival_utc_offset_minutes == 60
    assert transpacific.departure_utc_offset_minutes == 9 * 60
    assert transpacific.arrival_utc_offset_minutes == -10 * 60


def test_blank_date_variation_is_computed_from_utc_instants() -> None:
    result = _sample()

    assert _leg(result, "ZX13").arrival_day_offset == 0
    assert _leg(result, "ZX14").arrival_day_offset == 1


def test_earlier_clock_time_across_the_date_line_is_still_the_same_day() -> None:
    leg = _leg(_sample(), "Q7451")

    assert leg.arrival_local < leg.departure_local
    assert leg.arrival_day_offset == 0


def test_date_variation_a_means_arrival_the_day_before() -> None:
    assert _leg(_sample(), "Q7453").arrival_day_offset == -1


def test_downline_leg_period_and_days_shift_to_its_own_departure_day() -> None:
    result = _sample()
    first_leg = _leg(result, "FD801", leg_sequence=1)
    second_leg = _leg(result, "FD801", leg_sequence=2)

    assert (first_leg.period_from, first_leg.days_of_week) == (dt.date(2026, 10, 28), "36")
    assert first_leg.arrival_day_offset == 1
    assert second_leg.period_from == dt.date(2026, 10, 29)
    assert second_leg.period_to == dt.date(2027, 3, 25)
    assert second_leg.days_of_week == "47"
    assert second_leg.arrival_day_offset == 0


def test_blank_terminals_become_none() -> None:
    leg = _leg(_sample(), "FD642")

    assert (leg.departure_terminal, leg.arrival_terminal) == (None, "4")


def test_short_lines_padded_and_crlf_accepted() -> None:
    stripped_leg = DAILY_LEG[:75]  # trailing blanks and serial number lost in transfer
    text = "\ufeff" + "\r\n".join([HEADER.rstrip(), CARRIER[:35], stripped_leg]) + "\r\n"

    result = parse_ssim(text)

    assert result.rejected == []
    assert [leg.flight_number for leg in result.legs] == ["FD101"]
    assert result.legs[0].aircraft_type == "320"


def test_header_carrier_trailer_filler_and_segment_records_produce_no_legs() -> None:
    trailer = "5 FD".ljust(187) + "000003E000004"
    segment = "4 FD 01010101J".ljust(194) + "000004"

    result = _parse_records("0" * 200, segment, trailer, "0" * 200, "")

    assert result.legs == []
    assert result.rejected == []
    assert result.carriers == ["FD"]


def test_unknown_record_type_rejected() -> None:
    result = _parse_records(DAILY_LEG, "9 FD  SOMETHING ELSE".ljust(200))

    assert [leg.line_number for leg in result.legs] == [3]
    (rejection,) = result.rejected
    assert rejection.line_number == 4
    assert "record type" in rejection.reason and "'9'" in rejection.reason


def test_record_longer_than_200_characters_rejected() -> None:
    (rejection,) = _parse_records(DAILY_LEG + "X").rejected

    assert "record length" in rejection.reason and "201" in rejection.reason


@pytest.mark.parametrize(
    ("first", "text", "expected_in_reason"),
    [
        (15, "31APR26", ["period from", "31APR26"]),
        (22, "24OCT26", ["period to", "24OCT26", "before"]),
        (22, "00XXX00", ["period to", "00XXX00", "open-ended"]),
        (29, "       ", ["days of operation", "all blank"]),
        (29, "7654321", ["days of operation", "7654321"]),
        (40, "2400", ["departure time", "2400"]),
        (62, "0760", ["arrival time", "0760"]),
        (48, "+1430", ["departure UTC variation", "+1430"]),
        (66, " 0100", ["arrival UTC variation", "' 0100'"]),
        (37, "ams", ["departure station", "ams"]),
        (55, "L1R", ["arrival station", "L1R"]),
        (6, "10A1", ["flight number", "10A1"]),
        (73, "   ", ["aircraft type", "'   '"]),
        (193, "0X", ["arrival date variation", "X"]),
        (193, "0A", ["date variation", "before departure"]),
    ],
)
def test_invalid_leg_field_is_rejected_naming_field_and_value(
    first: int, text: str, expected_in_reason: list[str]
) -> None:
    result = _parse_records(_overwrite(DAILY_LEG, first, text))

    assert result.legs == []
    (rejection,) = result.rejected
    assert rejection.line_number == 3
    for fragment in expected_in_reason:
        assert fragment in rejection.reason


def test_utc_time_mode_is_recorded_and_times_are_kept_as_written() -> None:
    utc_carrier = _overwrite(CARRIER, 2, "U")
    # 2300 UTC -> 0500 UTC is a 6 hour block arriving the next UTC day; the local
    # variations (-0500 / +0100) must not be applied to times that are already UTC.
    leg = _overwrite(DAILY_LEG, 40, "23002300-0500")
    leg = _overwrite(_overwrite(leg, 58, "05000500+0100"), 193, "  ")
    result = parse_ssim("\n".join([HEADER, utc_carrier, leg]))

    assert result.time_mode == "U"
    (parsed,) = result.legs
    assert (parsed.departure_local, parsed.arrival_local) == (dt.time(23, 0), dt.time(5, 0))
    assert parsed.arrival_day_offset == 1


@pytest.mark.parametrize(
    ("record", "expected_in_reason"),
    [
        (_overwrite(CARRIER, 2, "X"), "time mode"),
        ("5 FD".ljust(187) + "000003Z000004", "continuation/end code"),
        ("1AIRLINE SCHEDULE".ljust(194) + "000001", "header"),
    ],
)
def test_malformed_non_leg_records_are_rejected(record: str, expected_in_reason: str) -> None:
    (rejection,) = _parse_records(record).rejected

    assert rejection.line_number == 3
    assert expected_in_reason in rejection.reason
