"""The streaming SSIM parser: fields read from their byte positions, a flight's legs grouped,
segment data applied, bad lines rejected naming the field, one flight in memory at a time."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from tests.flights.schedule_factories import ssim_carrier, ssim_header, ssim_leg, ssim_segment

from flightdeck.flights.schedules.ssim.parser import (
    SsimCarrier,
    SsimFlight,
    SsimLeg,
    SsimRejection,
    SsimWarning,
    read_ssim,
)

SAMPLE = Path(__file__).parent / "data" / "sample.ssim"
HEADER = "1AIRLINE STANDARD SCHEDULE DATA SET".ljust(194) + "000001"
CARRIER = "2LFD      W26 25OCT2627MAR2715SEP26".ljust(194) + "000002"
# FD101 AMS 0700 +0100 -> LHR 0715 +0000 terminal 2, daily, A320, same-day arrival.
DAILY_LEG = (
    "3 FD 01010101J25OCT2627MAR271234567 AMS07000700+0100  LHR07150715+00002 320CY".ljust(192)
    + "00000003"
)
AMS_LHR = ("AMS", "0700", "+0200", "LHR", "0715", "+0100")
LHR_JFK = ("LHR", "0900", "+0100", "JFK", "1130", "-0400")


@dataclass
class Parsed:
    flights: list[SsimFlight] = field(default_factory=list)
    rejected: list[SsimRejection] = field(default_factory=list)
    warnings: list[SsimWarning] = field(default_factory=list)
    carriers: list[SsimCarrier] = field(default_factory=list)

    @property
    def legs(self) -> list[SsimLeg]:
        return [leg for flight in self.flights for leg in flight.legs]

    def leg(self, flight_number: str, leg_sequence: int = 1) -> SsimLeg:
        (found,) = (
            leg
            for leg in self.legs
            if leg.flight_number == flight_number and leg.leg_sequence == leg_sequence
        )
        return found


def parse(lines: Iterable[str]) -> Parsed:
    parsed = Parsed()
    for item in read_ssim(lines):
        if isinstance(item, SsimFlight):
            parsed.flights.append(item)
        elif isinstance(item, SsimRejection):
            parsed.rejected.append(item)
        elif isinstance(item, SsimWarning):
            parsed.warnings.append(item)
        else:
            parsed.carriers.append(item)
    return parsed


def _sample() -> Parsed:
    return parse(SAMPLE.read_text().split("\n"))


def _overwrite(record: str, first: int, text: str) -> str:
    """Replace bytes starting at the 1-based SSIM position `first`."""
    return record[: first - 1] + text + record[first - 1 + len(text) :]


def _parse_records(*records: str) -> Parsed:
    return parse([HEADER, CARRIER, *records])


def test_sample_records_are_200_bytes_except_the_truncated_one() -> None:
    lengths = {len(line) for line in SAMPLE.read_text().splitlines()}
    assert lengths == {200, 47}


def test_sample_loads_legs_of_every_carrier_with_its_time_mode() -> None:
    result = _sample()

    assert len(result.legs) == 11
    assert [(c.airline, c.time_mode) for c in result.carriers] == [
        ("FD", "L"),
        ("ZX", "L"),
        ("Q7", "L"),
    ]
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


def test_leg_fields_are_read_from_their_byte_positions() -> None:
    assert _sample().leg("FD101") == SsimLeg(
        line_number=11,
        airline="FD",
        flight_number="FD101",
        itinerary_variation=1,
        leg_sequence=1,
        service_type="J",
        period_from=dt.date(2026, 10, 25),
        period_to=dt.date(2027, 3, 27),
        days_of_week="1234567",
        origin="AMS",
        destination="LHR",
        departure=dt.time(7, 0),
        arrival=dt.time(7, 15),
        departure_utc_offset=60,
        arrival_utc_offset=0,
        departure_day=0,
        arrival_day=0,
        aircraft_type="320",
        configuration="C12Y138",
        time_mode="L",
    )


def test_flight_numbers_drop_leading_zeros_and_keep_the_operational_suffix() -> None:
    result = _sample()
    suffixed = parse([HEADER, CARRIER, _overwrite(DAILY_LEG, 2, "D")])

    assert {"FD101", "FD641", "ZX13", "ZX202", "Q7451"} <= {
        leg.flight_number for leg in result.legs
    }
    assert suffixed.legs[0].flight_number == "FD101D"


def test_days_of_operation_become_flightdeck_digits() -> None:
    result = _sample()

    assert result.leg("FD102").days_of_week == "246"
    assert result.leg("FD642").days_of_week == "1246"
    assert result.leg("ZX13").days_of_week == "1357"


def test_utc_variations_become_signed_minutes() -> None:
    result = _sample()

    assert result.leg("FD641").departure_utc_offset == -5 * 60
    assert result.leg("FD641").arrival_utc_offset == 60
    assert result.leg("Q7451").departure_utc_offset == 9 * 60
    assert result.leg("Q7451").arrival_utc_offset == -10 * 60


def test_date_variations_are_kept_as_filed() -> None:
    result = _sample()

    assert (result.leg("FD641").departure_day, result.leg("FD641").arrival_day) == (0, 1)
    assert result.leg("ZX13").arrival_day is None  # blank: found later from the UTC times
    assert result.leg("Q7453").arrival_day == -1  # "A": the day before
    downline = result.leg("FD801", leg_sequence=2)
    assert (downline.departure_day, downline.arrival_day) == (1, 1)
    # The period and days stay the flight's (its first leg's), as filed.
    assert (downline.period_from, downline.days_of_week) == (dt.date(2026, 10, 28), "36")


def test_legs_of_one_itinerary_variation_form_one_flight() -> None:
    records = [
        ssim_leg(5, *AMS_LHR, days="1", serial=3),
        ssim_leg(5, *LHR_JFK, days="1", leg_sequence=2, serial=4),
        ssim_leg(5, *AMS_LHR, days="3", itinerary_variation=2, serial=5),
        ssim_leg(5, *AMS_LHR, days="5", itinerary_variation=2, serial=6),  # restarts at leg 1
        ssim_leg(6, *AMS_LHR, days="1", serial=7),
    ]

    result = parse([ssim_header(), ssim_carrier(), *records])

    assert [[(leg.flight_number, leg.leg_sequence) for leg in f.legs] for f in result.flights] == [
        [("FD5", 1), ("FD5", 2)],
        [("FD5", 1)],
        [("FD5", 1)],
        [("FD6", 1)],
    ]


def test_one_flight_is_yielded_before_the_next_lines_are_read() -> None:
    def lines() -> Iterator[str]:
        yield from [ssim_header(), ssim_carrier(), ssim_leg(5, *AMS_LHR), ssim_leg(6, *AMS_LHR)]
        raise AssertionError("read past the second flight's first line")

    items = read_ssim(lines())
    first_flight = next(item for item in items if isinstance(item, SsimFlight))

    assert first_flight.key == ("FD5", 1)


def test_leg_record_extras_are_kept() -> None:
    leg = ssim_leg(
        5,
        *AMS_LHR,
        configuration="J14W34Y316VV364",
        traffic="A K",
        onward="FD 0642",
        itinerary_variation=23,
        service_type="C",
    )
    overflow = _overwrite(leg, 128, "1")  # itinerary variation 123

    parsed = parse([ssim_header(), ssim_carrier(), overflow]).legs[0]

    assert parsed.configuration == "J14W34Y316VV364"
    assert parsed.traffic_restrictions == "A K"
    assert parsed.onward_flight == "FD642"
    assert (parsed.itinerary_variation, parsed.service_type) == (123, "C")


def test_segment_data_sets_codeshare_configuration_and_passenger_restrictions() -> None:
    records = [
        ssim_leg(5, *AMS_LHR, days="1", traffic="ZZ", serial=3),
        ssim_leg(5, *LHR_JFK, days="1", leg_sequence=2, serial=4),
        ssim_segment(5, "AMS", "JFK", 2, "KL", serial=5),  # both legs operated by KL
        ssim_segment(5, "LHR", "JFK", 50, "KL 1597", leg_sequence=2, serial=6),
        ssim_segment(5, "AMS", "LHR", 108, "F8J42W24Y302VVLONGVERSION", serial=7),
        ssim_segment(5, "AMS", "LHR", 170, "K", serial=8),  # position 1: the leg alone
        ssim_segment(5, "AMS", "JFK", 170, "B", serial=9),  # position 2: through to JFK
        ssim_segment(5, "AMS", "JFK", 10, "XY 1234", serial=10),  # not kept, no warning
    ]

    result = parse([ssim_header(), ssim_carrier(), *records])

    first, second = result.flights[0].legs
    assert (first.operating_carrier, second.operating_carrier) == ("KL", "KL")
    assert second.operating_flight == "KL1597"
    assert first.configuration == "F8J42W24Y302VVLONGVERSION"
    assert first.traffic_restrictions == "KB"
    assert result.warnings == [] and result.rejected == []


def test_segment_data_for_a_segment_the_flight_lacks_is_a_warning() -> None:
    records = [ssim_leg(5, *AMS_LHR, serial=3), ssim_segment(5, "AMS", "CDG", 2, "KL", serial=4)]

    result = parse([ssim_header(), ssim_carrier(), *records])

    (warning,) = result.warnings
    assert warning.line_number == 4 and "AMS-CDG" in warning.warning
    assert result.legs[0].operating_carrier is None


def test_open_ended_period_ends_with_the_carriers_validity() -> None:
    leg = _overwrite(DAILY_LEG, 22, "00XXX00")

    (parsed,) = _parse_records(leg).legs

    assert parsed.period_to == dt.date(2027, 3, 27)


def test_blank_aircraft_type_reads_as_none() -> None:
    (parsed,) = _parse_records(_overwrite(DAILY_LEG, 73, "   ")).legs

    assert parsed.aircraft_type is None


def test_short_lines_padded_and_crlf_accepted() -> None:
    stripped_leg = DAILY_LEG[:75]  # trailing blanks and serial number lost in transfer
    text = "\ufeff" + "\r\n".join([HEADER.rstrip(), CARRIER[:35], stripped_leg]) + "\r\n"

    result = parse(text.split("\n"))

    assert result.rejected == []
    assert [leg.flight_number for leg in result.legs] == ["FD101"]
    assert result.legs[0].aircraft_type == "320"


def test_header_carrier_trailer_and_filler_records_produce_no_legs() -> None:
    trailer = "5 FD".ljust(187) + "000003E000004"

    result = _parse_records("0" * 200, trailer, "0" * 200, "")

    assert result.legs == [] and result.rejected == []
    assert [c.airline for c in result.carriers] == ["FD"]


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
        (29, "       ", ["days of operation", "all blank"]),
        (29, "7654321", ["days of operation", "7654321"]),
        (36, "2", ["frequency rate", "every 2 weeks"]),
        (40, "2400", ["departure time", "2400"]),
        (62, "0760", ["arrival time", "0760"]),
        (48, "+1430", ["departure UTC variation", "+1430"]),
        (66, " 0100", ["arrival UTC variation", "' 0100'"]),
        (37, "ams", ["departure station", "ams"]),
        (55, "L1R", ["arrival station", "L1R"]),
        (6, "10A1", ["flight number", "10A1"]),
        (10, "0X", ["itinerary variation", "0X"]),
        (12, " 1", ["leg sequence number", "' 1'"]),
        (14, "j", ["service type", "'j'"]),
        (73, "3-2", ["aircraft type", "3-2"]),
        (150, "AJ", ["traffic restriction code", "'J' at position 2"]),
        (138, "FD   X", ["onward flight", "FD"]),
        (193, "0X", ["arrival date variation", "X"]),
        (193, "X0", ["departure date variation", "X"]),
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


def test_open_ended_period_without_carrier_validity_is_rejected() -> None:
    carrier = _overwrite(CARRIER, 22, "       ")

    result = parse([HEADER, carrier, _overwrite(DAILY_LEG, 22, "00XXX00")])

    (rejection,) = result.rejected
    assert "period to" in rejection.reason and "open-ended" in rejection.reason


def test_utc_time_mode_applies_to_the_legs_after_the_carrier_record() -> None:
    utc_carrier = _overwrite(CARRIER, 2, "U")

    result = parse([HEADER, CARRIER, DAILY_LEG, utc_carrier, _overwrite(DAILY_LEG, 6, "0102")])

    assert [(leg.flight_number, leg.time_mode) for leg in result.legs] == [
        ("FD101", "L"),
        ("FD102", "U"),
    ]
    assert result.legs[1].departure == dt.time(7, 0)  # kept as written (UTC)


@pytest.mark.parametrize(
    ("record", "expected_in_reason"),
    [
        (_overwrite(CARRIER, 2, "X"), "time mode"),
        ("5 FD".ljust(187) + "000003Z000004", "continuation/end code"),
        ("1AIRLINE SCHEDULE".ljust(194) + "000001", "header"),
        (_overwrite(ssim_segment(101, "AMS", "LHR", 2, "KL"), 31, "0X2"), "data element"),
    ],
)
def test_malformed_non_leg_records_are_rejected(record: str, expected_in_reason: str) -> None:
    (rejection,) = _parse_records(record).rejected

    assert rejection.line_number == 3
    assert expected_in_reason in rejection.reason
