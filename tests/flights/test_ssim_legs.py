"""A flight's legs as filed → FlightDeck schedule definitions: local times and dates, day
offsets of downline legs, time modes L and U, dates across midnight and the date line."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from tests.flights.schedule_factories import ssim_carrier, ssim_header, ssim_leg

from flightdeck.flights.schedules.schemas import ScheduleCreate
from flightdeck.flights.schedules.ssim.legs import Fares, LegDefinition, leg_definitions
from flightdeck.flights.schedules.ssim.parser import SsimFlight, read_ssim

SAMPLE = Path(__file__).parent / "data" / "sample.ssim"
FARES = Fares(10_000, "USD")


def _flights(lines: list[str]) -> dict[str, SsimFlight]:
    return {item.key[0]: item for item in read_ssim(lines) if isinstance(item, SsimFlight)}


def _sample(flight_number: str) -> list[LegDefinition]:
    return leg_definitions(_flights(SAMPLE.read_text().split("\n"))[flight_number], FARES)


def _definition(results: list[LegDefinition], index: int = 0) -> ScheduleCreate:
    definition = results[index].definition
    assert definition is not None, results[index].rejection
    return definition


def _file(*legs: str, time_mode: str = "L") -> list[LegDefinition]:
    (flight,) = _flights([ssim_header(), ssim_carrier(time_mode=time_mode), *legs]).values()
    return leg_definitions(flight, FARES)


def test_daily_leg_becomes_a_local_time_schedule_with_cabins_from_its_configuration() -> None:
    definition = _definition(_sample("FD101"))

    assert (definition.origin, definition.destination) == ("AMS", "LHR")
    assert (definition.departure_local, definition.arrival_local) == (dt.time(7), dt.time(7, 15))
    assert (definition.valid_from, definition.valid_to) == (
        dt.date(2026, 10, 25),
        dt.date(2027, 3, 27),
    )
    assert definition.days_of_week == "1234567"
    assert (definition.leg_sequence, definition.itinerary_variation) == (1, 1)
    assert definition.departure_day_offset == 0 and definition.arrival_day_offset == 0
    assert definition.aircraft_configuration == "C12Y138"
    assert {name: spec.seats for name, spec in definition.cabins.items()} == {
        "business": 12,
        "economy": 138,
    }
    assert definition.cabins["business"].fare.amount == 40_000


def test_overnight_leg_arrives_the_next_local_day() -> None:
    definition = _definition(_sample("FD641"))

    assert definition.arrival_local < definition.departure_local
    assert definition.arrival_day_offset == 1


def test_blank_arrival_date_variation_is_found_from_the_utc_instants() -> None:
    assert _definition(_sample("ZX13")).arrival_day_offset == 0
    assert _definition(_sample("ZX14")).arrival_day_offset == 1


def test_earlier_clock_time_across_the_date_line_is_still_the_same_day() -> None:
    definition = _definition(_sample("Q7451"))  # NRT 17:00 -> HNL 05:45 the same date

    assert definition.arrival_local < definition.departure_local
    assert definition.arrival_day_offset == 0


def test_date_variation_a_means_arrival_the_day_before() -> None:
    assert _definition(_sample("Q7453")).arrival_day_offset == -1


def test_downline_leg_departs_its_days_after_the_flight_date_in_its_own_dates() -> None:
    first, second = (_definition(_sample("FD801"), i) for i in (0, 1))

    assert (first.valid_from, first.days_of_week, first.departure_day_offset) == (
        dt.date(2026, 10, 28),
        "36",
        0,
    )
    assert first.arrival_day_offset == 1
    # DXB 08:15 the day after the flight date: its own dates and weekdays, one day later.
    assert (second.valid_from, second.valid_to) == (dt.date(2026, 10, 29), dt.date(2027, 3, 25))
    assert second.days_of_week == "47"
    assert (second.leg_sequence, second.departure_day_offset, second.arrival_day_offset) == (
        2,
        1,
        0,
    )


def test_utc_mode_times_become_local_with_the_stated_variations() -> None:
    # Mondays 23:00Z from Sydney (+1000) is Tuesday 09:00 local; Tokyo 08:30Z is 17:30 (+0900).
    results = _file(
        ssim_leg(77, "SYD", "2300", "+1000", "NRT", "0830", "+0900", days="1"), time_mode="U"
    )

    definition = _definition(results)
    assert (definition.departure_local, definition.arrival_local) == (dt.time(9), dt.time(17, 30))
    assert definition.days_of_week == "2" and definition.arrival_day_offset == 0
    assert definition.valid_from == dt.date(2026, 6, 9)
    assert definition.departure_day_offset == 0
    assert results[0].warnings == []  # stated variations are not checked in UTC mode


def test_utc_mode_downline_leg_counts_its_days_from_the_local_flight_date() -> None:
    # Leg 1 Sydney 23:00Z Monday (local Tuesday 09:00) to Singapore 07:00Z Tuesday (15:00);
    # leg 2 leaves Singapore 17:00Z Tuesday (Wednesday 01:00 local) for Dubai.
    results = _file(
        ssim_leg(8, "SYD", "2300", "+1000", "SIN", "0700", "+0800", days="1", date_variation="01"),
        ssim_leg(
            8, "SIN", "1700", "+0800", "DXB", "2100", "+0400", days="1", leg_sequence=2,
            date_variation="11", serial=4,
        ),
        time_mode="U",
    )  # fmt: skip

    first, second = _definition(results, 0), _definition(results, 1)
    assert (first.valid_from, first.days_of_week) == (dt.date(2026, 6, 9), "2")
    assert (second.departure_local, second.valid_from, second.days_of_week) == (
        dt.time(1),
        dt.date(2026, 6, 10),
        "3",
    )
    assert second.departure_day_offset == 1 and second.arrival_day_offset == 0


def test_arrival_date_variation_before_departure_is_rejected_naming_the_field() -> None:
    results = _file(
        ssim_leg(9, "JFK", "1830", "-0400", "LHR", "0630", "+0100", date_variation="00")
    )

    assert results[0].definition is None
    assert results[0].rejection is not None and results[0].rejection.startswith("date variation")


def test_unknown_airport_is_rejected_naming_the_station() -> None:
    results = _file(ssim_leg(9, "QQQ", "1000", "+0000", "LHR", "1200", "+0100"))

    assert results[0].rejection == "departure station: unknown airport 'QQQ'"


def test_unreadable_configuration_loads_with_default_cabins_and_a_warning() -> None:
    results = _file(
        ssim_leg(9, "AMS", "0700", "+0200", "LHR", "0715", "+0100", configuration="J12/Y1")
    )

    definition = _definition(results)
    assert list(definition.cabins) == ["economy"] and definition.cabins["economy"].seats == 150
    (warning,) = results[0].warnings
    assert warning.startswith("aircraft configuration/version: 'J12/Y1' cannot be read")


def test_cargo_service_gets_no_default_cabins() -> None:
    results = _file(ssim_leg(9, "AMS", "0700", "+0200", "LHR", "0715", "+0100", service_type="F"))

    definition = _definition(results)
    assert definition.service_type == "F" and definition.cabins == {}
    assert results[0].warnings == []


def test_stated_variation_disagreeing_with_the_zone_is_a_warning() -> None:
    # New York is on -0400 in June; the file says -0500.
    results = _file(ssim_leg(101, "JFK", "1830", "-0500", "LHR", "0630", "+0100"))

    (warning,) = results[0].warnings
    assert "-0500" in warning and "-0400" in warning and "America/New_York" in warning
    assert _definition(results).departure_local == dt.time(18, 30)
