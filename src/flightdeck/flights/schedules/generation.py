"""From a schedule's definition to its dated flights, in UTC.

Each operating day's departure and arrival are converted with the airports' IANA zones, so a
daily 18:30 departure stays 18:30 local across DST changes and the block time moves when the
two ends change on different dates. A leg of a multi-leg flight departs `departure_day_offset`
days after its flight's date: its flights are dated (`flight_date`) by the flight, so all legs
of one flight number on one date share a key and are told apart by `leg_sequence`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from flightdeck.flights.airports import local_to_utc
from flightdeck.flights.drafts import FlightDraft, FlightKey
from flightdeck.flights.schedules.schemas import ScheduleCreate, SkippedDate
from flightdeck.flights.schemas import MAX_BLOCK_TIME, block_time_problem
from flightdeck.platform.errors import Unprocessable


class ArrivalNotAfterDeparture(Unprocessable):
    code = "arrival_before_departure"


class BlockTimeTooLong(Unprocessable):
    code = "block_time_too_long"


@dataclass(frozen=True)
class DatedTimes:
    """One operating day of a schedule: its service date and UTC instants."""

    service_date: date
    departure_at: datetime
    arrival_at: datetime


@dataclass
class FlightPlan:
    flights: list[FlightDraft] = field(default_factory=list)
    skipped: list[SkippedDate] = field(default_factory=list)


def operating_dates(days_of_week: str, valid_from: date, valid_to: date) -> list[date]:
    """Dates in [valid_from, valid_to] whose ISO weekday (Monday=1) is in the mask."""
    weekdays = {int(day) for day in days_of_week}
    span = (valid_to - valid_from).days
    days = (valid_from + timedelta(days=offset) for offset in range(span + 1))
    return [day for day in days if day.isoweekday() in weekdays]


def dated_times(definition: ScheduleCreate) -> list[DatedTimes]:
    """Every operating day in UTC (none for a cancelled schedule); a 422 if any arrival is
    not after its departure or comes more than `MAX_BLOCK_TIME` after it. The airports must
    be known (see `service.check_airports`)."""
    if definition.status != "active":
        return []
    arrival_shift = timedelta(days=definition.arrival_day_offset)
    dated: list[DatedTimes] = []
    for day in operating_dates(definition.days_of_week, definition.valid_from, definition.valid_to):
        departure_at = local_to_utc(day, definition.departure_local, definition.origin)
        arrival_at = local_to_utc(
            day + arrival_shift, definition.arrival_local, definition.destination
        )
        if arrival_at <= departure_at:
            raise ArrivalNotAfterDeparture(
                f"arrival {definition.arrival_local:%H:%M} {definition.destination} "
                f"(day offset {definition.arrival_day_offset}) is not after departure "
                f"{definition.departure_local:%H:%M} {definition.origin} on {day.isoformat()}",
                details={"service_date": day.isoformat()},
            )
        if arrival_at - departure_at > MAX_BLOCK_TIME:
            raise BlockTimeTooLong(
                f"departure {definition.departure_local:%H:%M} {definition.origin} to arrival "
                f"{definition.arrival_local:%H:%M} {definition.destination} (day offset "
                f"{definition.arrival_day_offset}) on {day.isoformat()}: "
                + str(block_time_problem(departure_at, arrival_at)),
                details={"service_date": day.isoformat()},
            )
        dated.append(DatedTimes(day, departure_at, arrival_at))
    return dated


def flight_date_range(definition: ScheduleCreate) -> tuple[date, date]:
    """The flight dates the schedule's legs may have (its period, back by its day offset)."""
    offset = timedelta(days=definition.departure_day_offset)
    return definition.valid_from - offset, definition.valid_to - offset


def flight_draft(schedule_id: str, definition: ScheduleCreate, day: DatedTimes) -> FlightDraft:
    """The flight the schedule flies on that day."""
    return FlightDraft(
        flight_number=definition.flight_number,
        origin=definition.origin,
        destination=definition.destination,
        departure_at=day.departure_at,
        arrival_at=day.arrival_at,
        service_date=day.service_date,
        flight_date=day.service_date - timedelta(days=definition.departure_day_offset),
        aircraft=definition.aircraft,
        cabins=definition.cabins,
        schedule_id=schedule_id,
        leg_sequence=definition.leg_sequence,
        itinerary_variation=definition.itinerary_variation,
        service_type=definition.service_type,
        traffic_restrictions=definition.traffic_restrictions,
        operating_carrier=definition.operating_carrier,
        operating_flight=definition.operating_flight,
    )


def plan_flights(
    schedule_id: str,
    definition: ScheduleCreate,
    dated: Iterable[DatedTimes],
    taken: set[FlightKey],
    now: datetime,
    kept_dates: frozenset[date] = frozenset(),
) -> FlightPlan:
    """The flights to insert for the future operating days that are free.

    `taken` holds the (flight_number, flight_date, leg_sequence) keys already used; the planned
    flights' keys are added to it, so plans for several schedules never collide.
    """
    plan = FlightPlan()
    for day in dated:
        draft = flight_draft(schedule_id, definition, day)
        if day.departure_at < now:
            plan.skipped.append(
                SkippedDate(service_date=day.service_date, reason="departure_passed")
            )
        elif day.service_date in kept_dates:
            plan.skipped.append(
                SkippedDate(service_date=day.service_date, reason="kept_booked_flight")
            )
        elif draft.key in taken:
            plan.skipped.append(SkippedDate(service_date=day.service_date, reason="flight_exists"))
        else:
            taken.add(draft.key)
            plan.flights.append(draft)
    return plan
