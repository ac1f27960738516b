"""From the legs of a flight as SSIM (or SSM) files them to FlightDeck schedule definitions.

A file gives the flight's period and days once, for the flight's date, and for each leg the
days after that date it departs and arrives (date variations), with times in the file's time
mode. FlightDeck keeps each leg as a schedule in its own local departure dates:

* the leg's local departure date is the flight date plus its departure date variation (in a
  UTC-mode file, plus the days the stated UTC variation moves the time across midnight);
* the flight's date in FlightDeck is the first leg's local departure date, and a leg's
  `departure_day_offset` is the days from it to the leg's own local departure date;
* the arrival day offset is from the leg's local departure date to its local arrival date;
  without an arrival date variation it is found from the UTC instants, the block time being
  under 24 hours.

Times are then local wall-clock times, converted with the airports' IANA zones as everywhere
else. A local-mode leg whose stated UTC variation disagrees with its airport's zone on the
first day of its period still loads, with a warning. Cabins come from the configuration
(ssim/configuration.py); fares are the import's default fare times `FARE_MULTIPLIERS`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta

from pydantic import ValidationError

from flightdeck.flights.airports import find_airport, get_airport
from flightdeck.flights.models import SOLD_SERVICE_TYPES
from flightdeck.flights.schedules.schemas import ScheduleCreate
from flightdeck.flights.schedules.ssim.configuration import read_configuration
from flightdeck.flights.schedules.ssim.parser import SsimFlight, SsimLeg
from flightdeck.flights.schedules.ssim.records import format_utc_offset, shift_days

MINUTES_PER_DAY = 24 * 60
DEFAULT_IMPORT_CABINS: dict[str, int] = {"economy": 150}
FARE_MULTIPLIERS: dict[str, int] = {"economy": 1, "premium_economy": 2, "business": 4, "first": 6}


@dataclass(frozen=True)
class Fares:
    """How a leg's cabins are priced: an existing fare of the cabin when there is one (an
    equipment change keeps them), else the default fare times the cabin's multiplier."""

    amount: int
    currency: str
    existing: Mapping[str, Mapping[str, object]] = field(default_factory=dict)

    def cabins(self, seats: Mapping[str, int]) -> dict[str, dict[str, object]]:
        return {
            cabin: {
                "seats": count,
                "fare": self.existing.get(cabin)
                or {"amount": self.amount * FARE_MULTIPLIERS[cabin], "currency": self.currency},
            }
            for cabin, count in seats.items()
        }


@dataclass
class LegDefinition:
    """One leg: its schedule definition, or why it cannot have one; and warnings."""

    line_number: int
    definition: ScheduleCreate | None = None
    rejection: str | None = None
    warnings: list[str] = field(default_factory=list)


class _RejectedLeg(ValueError):
    """The leg cannot become a schedule; the message is the reason."""


@dataclass(frozen=True)
class _LocalLeg:
    """A leg's local times and days from the flight's date (calendar days, file reference)."""

    departure: time
    arrival: time
    departure_day: int
    arrival_day: int


def leg_definitions(
    flight: SsimFlight, fares: Fares, *, base_day: int | None = None
) -> list[LegDefinition]:
    """Each leg of the flight as a schedule definition (or a rejection), in leg order.

    `base_day`: the days from the filed flight date to the flight's local date, when the
    first leg is not among `flight.legs` (an SSM time change of a downline leg)."""
    local: list[_LocalLeg | None] = []
    results: list[LegDefinition] = []
    for leg in flight.legs:
        result = LegDefinition(leg.line_number)
        results.append(result)
        try:
            local.append(_local_leg(leg))
        except _RejectedLeg as rejection:
            result.rejection = str(rejection)
            local.append(None)
    known = [each for each in local if each is not None]
    if not known:
        return results
    # The first leg (or else the first readable one) dates the flight.
    base = known[0].departure_day if base_day is None else base_day
    for leg, times, result in zip(flight.legs, local, results, strict=True):
        if times is None:
            continue
        try:
            result.definition = _definition(leg, times, base, fares, result.warnings)
        except _RejectedLeg as rejection:
            result.rejection = str(rejection)
            continue
        result.warnings.extend(_variation_warnings(leg, result.definition))
    return results


def _local_leg(leg: SsimLeg) -> _LocalLeg:
    for which, code in (("departure station", leg.origin), ("arrival station", leg.destination)):
        if find_airport(code) is None:
            raise _RejectedLeg(f"{which}: unknown airport {code!r}")
    utc_mode = leg.time_mode == "U"
    departure_file = leg.departure_day * MINUTES_PER_DAY + _minutes(leg.departure)
    departure_utc = departure_file - (0 if utc_mode else leg.departure_utc_offset)
    arrival_clock_utc = _minutes(leg.arrival) - (0 if utc_mode else leg.arrival_utc_offset)
    if leg.arrival_day is None:
        # Block times are under 24 hours: the first matching instant after departure.
        days = (departure_utc - arrival_clock_utc) // MINUTES_PER_DAY + 1
        arrival_utc = arrival_clock_utc + days * MINUTES_PER_DAY
    else:
        arrival_utc = arrival_clock_utc + leg.arrival_day * MINUTES_PER_DAY
        if arrival_utc <= departure_utc:
            raise _RejectedLeg(
                "date variation: the arrival date variation puts arrival before departure in UTC"
            )
    departure_day, departure = divmod(departure_utc + leg.departure_utc_offset, MINUTES_PER_DAY)
    arrival_day, arrival = divmod(arrival_utc + leg.arrival_utc_offset, MINUTES_PER_DAY)
    return _LocalLeg(_clock(departure), _clock(arrival), departure_day, arrival_day)


def _definition(
    leg: SsimLeg, times: _LocalLeg, base: int, fares: Fares, warnings: list[str]
) -> ScheduleCreate:
    # Cargo, charter and other services FlightDeck does not sell get no default seats.
    default = DEFAULT_IMPORT_CABINS if leg.service_type in SOLD_SERVICE_TYPES else {}
    configuration = read_configuration(leg.configuration, default)
    if configuration.warning:
        warnings.append(configuration.warning)
    shift = timedelta(days=times.departure_day)
    fields = {
        "flight_number": leg.flight_number,
        "origin": leg.origin,
        "destination": leg.destination,
        "departure_local": times.departure,
        "arrival_local": times.arrival,
        "arrival_day_offset": times.arrival_day - times.departure_day,
        "days_of_week": shift_days(leg.days_of_week, times.departure_day),
        "valid_from": leg.period_from + shift,
        "valid_to": leg.period_to + shift,
        "aircraft": leg.aircraft_type,
        "cabins": fares.cabins(configuration.seats or default),
        "leg_sequence": leg.leg_sequence,
        "itinerary_variation": leg.itinerary_variation,
        "departure_day_offset": times.departure_day - base,
        "service_type": leg.service_type,
        "traffic_restrictions": leg.traffic_restrictions,
        "operating_carrier": leg.operating_carrier,
        "operating_flight": leg.operating_flight,
        "onward_flight": leg.onward_flight,
        "aircraft_configuration": leg.configuration or None,
    }
    if not -1 <= times.departure_day - base <= 7:
        raise _RejectedLeg(
            f"date variation: the leg departs {times.departure_day - base} days after the "
            "flight's first leg, expected -1 to 7"
        )
    try:
        return ScheduleCreate.model_validate(fields)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise _RejectedLeg(f"{where}: {first['msg']}" if where else first["msg"]) from None


def _minutes(clock: time) -> int:
    return clock.hour * 60 + clock.minute


def _clock(minutes: int) -> time:
    return time(minutes // 60, minutes % 60)


def _variation_warnings(leg: SsimLeg, definition: ScheduleCreate) -> list[str]:
    """Where a local-mode file's UTC variation is not the zone's on the period's first day."""
    if leg.time_mode == "U":
        return []
    arrival_day = definition.valid_from + timedelta(days=definition.arrival_day_offset)
    ends = (
        (
            "departure",
            leg.origin,
            definition.valid_from,
            definition.departure_local,
            leg.departure_utc_offset,
        ),
        ("arrival", leg.destination, arrival_day, definition.arrival_local, leg.arrival_utc_offset),
    )
    warnings = []
    for which, code, day, local_time, stated in ends:
        zone = get_airport(code).zone
        offset = zone.utcoffset(datetime.combine(day, local_time))
        actual = int(offset.total_seconds() // 60) if offset is not None else 0
        if actual != stated:
            warnings.append(
                f"{which} UTC variation {format_utc_offset(stated)} at {code} differs from "
                f"{zone.key} ({format_utc_offset(actual)} on {day.isoformat()}); "
                "times were converted with the airport's time zone"
            )
    return warnings


def flight_warnings(flight: SsimFlight, results: Sequence[LegDefinition]) -> None:
    """Legs of one flight should join up: each leaving where the one before it arrived."""
    previous = None
    for leg, result in zip(flight.legs, results, strict=True):
        if previous is not None and result.definition is not None and leg.origin != previous:
            result.warnings.append(
                f"departure station: leg {leg.leg_sequence} leaves {leg.origin}, the leg "
                f"before it arrives at {previous}"
            )
        previous = leg.destination
