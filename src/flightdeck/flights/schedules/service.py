"""Recurring schedules: their definition, and the dated flights they generate in UTC.

A schedule is written in airport local times. Each operating day's departure and arrival are
converted with the airports' IANA zones, so a daily 18:30 departure stays 18:30 local across
DST changes and the block time moves when the two ends change on different dates.

Changing or deleting a schedule touches only its future flights with nothing sold: those are
removed (and, on a change, generated again from the new definition). Future flights with seats
sold are kept as they are and reported. Past flights are never touched. When a schedule is
deleted, the flights it leaves behind stay as standalone flights (`schedule_id` null).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from flightdeck.flights import repository as flights_repo
from flightdeck.flights.airports import get_airport, local_to_utc
from flightdeck.flights.errors import DuplicateFlight, ScheduleNotFound
from flightdeck.flights.itineraries.service import invalidate_flight_searches
from flightdeck.flights.models import Flight, Schedule
from flightdeck.flights.schedules import repository as repo
from flightdeck.flights.schedules.schemas import (
    KeptFlight,
    ScheduleChanged,
    ScheduleCreate,
    ScheduleCreated,
    ScheduleDeleted,
    ScheduleDetail,
    ScheduleRead,
    SkippedDate,
    schedule_to_read,
)
from flightdeck.flights.schemas import MAX_BLOCK_TIME, block_time_problem, flight_to_read
from flightdeck.flights.service import build_flight
from flightdeck.platform.audit import changed_fields, record_audit
from flightdeck.platform.clock import utcnow
from flightdeck.platform.db import new_id
from flightdeck.platform.errors import Unprocessable
from flightdeck.platform.events.outbox import record_event
from flightdeck.platform.pagination import Page, PageParams, encode_cursor
from flightdeck.platform.security.auth import Principal

SCHEDULE_CHANGED = "schedule.changed"


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
    flights: list[Flight] = field(default_factory=list)
    skipped: list[SkippedDate] = field(default_factory=list)


def operating_dates(days_of_week: str, valid_from: date, valid_to: date) -> list[date]:
    """Dates in [valid_from, valid_to] whose ISO weekday (Monday=1) is in the mask."""
    weekdays = {int(day) for day in days_of_week}
    span = (valid_to - valid_from).days
    days = (valid_from + timedelta(days=offset) for offset in range(span + 1))
    return [day for day in days if day.isoweekday() in weekdays]


def dated_times(definition: ScheduleCreate) -> list[DatedTimes]:
    """Every operating day in UTC; a 422 if any arrival is not after its departure.

    The airports must be known (see `check_airports`).
    """
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


def check_airports(definition: ScheduleCreate) -> None:
    get_airport(definition.origin, "origin")
    get_airport(definition.destination, "destination")


def new_schedule(definition: ScheduleCreate, *, source: str, created_by: str | None) -> Schedule:
    schedule = Schedule(id=new_id(), source=source, created_by=created_by)
    apply_definition(schedule, definition)
    return schedule


def apply_definition(schedule: Schedule, definition: ScheduleCreate) -> None:
    for name in ScheduleCreate.model_fields:
        if name != "cabins":
            setattr(schedule, name, getattr(definition, name))
    schedule.cabins = definition.cabins_json()


def plan_flights(
    schedule_id: str,
    definition: ScheduleCreate,
    dated: Iterable[DatedTimes],
    taken: set[tuple[str, date]],
    now: datetime,
    kept_dates: frozenset[date] = frozenset(),
) -> FlightPlan:
    """The flights to insert for the future operating days that are free.

    `taken` holds the (flight_number, service_date) keys already used; the planned flights'
    keys are added to it, so plans for several schedules never collide.
    """
    plan = FlightPlan()
    for day in dated:
        key = (definition.flight_number, day.service_date)
        if day.departure_at < now:
            plan.skipped.append(
                SkippedDate(service_date=day.service_date, reason="departure_passed")
            )
        elif day.service_date in kept_dates:
            plan.skipped.append(
                SkippedDate(service_date=day.service_date, reason="kept_booked_flight")
            )
        elif key in taken:
            plan.skipped.append(SkippedDate(service_date=day.service_date, reason="flight_exists"))
        else:
            taken.add(key)
            plan.flights.append(_dated_flight(schedule_id, definition, day))
    return plan


def _dated_flight(schedule_id: str, definition: ScheduleCreate, day: DatedTimes) -> Flight:
    return build_flight(
        flight_number=definition.flight_number,
        origin=definition.origin,
        destination=definition.destination,
        departure_at=day.departure_at,
        arrival_at=day.arrival_at,
        service_date=day.service_date,
        aircraft=definition.aircraft,
        cabins=definition.cabins,
        schedule_id=schedule_id,
    )


async def create_schedule(
    session: AsyncSession, definition: ScheduleCreate, actor: Principal
) -> ScheduleCreated:
    """Stores the schedule and generates its future flights (existing dates are skipped)."""
    check_airports(definition)
    dated = dated_times(definition)
    schedule = new_schedule(definition, source="api", created_by=actor.user_id)
    await repo.add_schedules(session, [schedule])
    plan = await _generate(session, schedule.id, definition, dated, utcnow())
    await _record_change(
        session, schedule.id, actor, action="created", flights_created=len(plan.flights)
    )
    await record_audit(
        session,
        action="create",
        entity="schedule",
        entity_id=schedule.id,
        after={**schedule_state(schedule), "flights_created": len(plan.flights)},
    )
    return ScheduleCreated(
        schedule=schedule_to_read(schedule),
        flights_created=len(plan.flights),
        flights=[flight_to_read(flight) for flight in plan.flights],
        skipped=plan.skipped,
    )


async def _generate(
    session: AsyncSession,
    schedule_id: str,
    definition: ScheduleCreate,
    dated: list[DatedTimes],
    now: datetime,
    kept_dates: frozenset[date] = frozenset(),
) -> FlightPlan:
    taken = await flights_repo.find_flight_keys(
        session, {definition.flight_number}, definition.valid_from, definition.valid_to
    )
    plan = plan_flights(schedule_id, definition, dated, taken, now, kept_dates)
    await store_flights(session, plan.flights)
    return plan


async def store_flights(session: AsyncSession, flights: list[Flight]) -> None:
    """Inserts planned flights; a 409 if a concurrent request took one of their dates."""
    try:
        await flights_repo.add_flights(session, flights)
    except IntegrityError as exc:
        # Only a race gets here: the keys were checked in this transaction just before.
        raise DuplicateFlight(
            "Another change created a flight on one of these dates meanwhile; retry"
        ) from exc
    await invalidate_flight_searches(session, {(f.origin, f.destination) for f in flights})


async def get_schedule(session: AsyncSession, schedule_id: str) -> ScheduleDetail:
    schedule = await _get_schedule(session, schedule_id)
    future, with_bookings = await repo.count_future_flights(session, schedule.id, utcnow())
    return ScheduleDetail(
        **schedule_to_read(schedule).model_dump(),
        future_flights=future,
        future_flights_with_bookings=with_bookings,
    )


async def list_schedules(
    session: AsyncSession,
    page: PageParams,
    *,
    flight_number: str | None = None,
    origin: str | None = None,
    destination: str | None = None,
) -> Page[ScheduleRead]:
    schedules = await repo.list_schedules(
        session,
        flight_number=flight_number.upper() if flight_number else None,
        origin=origin.upper() if origin else None,
        destination=destination.upper() if destination else None,
        after=_decode_after(page.cursor),
        limit=page.limit + 1,
    )
    items = schedules[: page.limit]
    next_cursor = None
    if len(schedules) > page.limit:
        last = items[-1]
        next_cursor = encode_cursor([last.flight_number, last.valid_from.isoformat(), last.id])
    return Page(items=[schedule_to_read(s) for s in items], next_cursor=next_cursor)


def _decode_after(cursor: list[Any] | None) -> list[Any] | None:
    if cursor is None:
        return None
    try:
        flight_number, valid_from, schedule_id = cursor
        return [str(flight_number), date.fromisoformat(str(valid_from)), str(schedule_id)]
    except ValueError as exc:
        raise Unprocessable(
            "cursor: not a cursor this server issued", code="invalid_cursor"
        ) from exc


async def update_schedule(
    session: AsyncSession, schedule_id: str, definition: ScheduleCreate, actor: Principal
) -> ScheduleChanged:
    """Replaces the definition and regenerates the future flights with nothing sold."""
    schedule = await _get_schedule(session, schedule_id, for_update=True)
    await invalidate_flight_searches(session, [(schedule.origin, schedule.destination)])
    check_airports(definition)
    dated = dated_times(definition)
    now = utcnow()
    kept, removed_ids = await _remove_unsold_future_flights(session, schedule.id, now)
    before = schedule_state(schedule)
    apply_definition(schedule, definition)
    await session.flush()
    plan = await _generate(
        session, schedule.id, definition, dated, now, frozenset(f.service_date for f in kept)
    )
    await _record_change(
        session,
        schedule.id,
        actor,
        action="updated",
        flights_created=len(plan.flights),
        removed_flight_ids=removed_ids,
        kept_flight_ids=[f.id for f in kept],
    )
    changed_before, changed_after = changed_fields(before, schedule_state(schedule))
    await record_audit(
        session,
        action="update",
        entity="schedule",
        entity_id=schedule.id,
        before=changed_before,
        after={
            **changed_after,
            "flights_created": len(plan.flights),
            "flights_removed": len(removed_ids),
            "flights_kept": len(kept),
        },
    )
    return ScheduleChanged(
        schedule=schedule_to_read(schedule),
        flights_created=len(plan.flights),
        flights_removed=len(removed_ids),
        kept_flights=kept,
        skipped=plan.skipped,
    )


async def delete_schedule(
    session: AsyncSession, schedule_id: str, actor: Principal
) -> ScheduleDeleted:
    """Deletes the schedule and its unsold future flights; the others stay, unlinked."""
    schedule = await _get_schedule(session, schedule_id, for_update=True)
    await invalidate_flight_searches(session, [(schedule.origin, schedule.destination)])
    kept, removed_ids = await _remove_unsold_future_flights(session, schedule.id, utcnow())
    before = schedule_state(schedule)
    await repo.delete_schedule(session, schedule)
    await record_audit(
        session,
        action="delete",
        entity="schedule",
        entity_id=schedule_id,
        before=before,
        after={"flights_removed": len(removed_ids), "flights_kept": len(kept)},
    )
    await _record_change(
        session,
        schedule_id,
        actor,
        action="deleted",
        removed_flight_ids=removed_ids,
        kept_flight_ids=[f.id for f in kept],
    )
    return ScheduleDeleted(flights_removed=len(removed_ids), kept_flights=kept)


async def _remove_unsold_future_flights(
    session: AsyncSession, schedule_id: str, now: datetime
) -> tuple[list[KeptFlight], list[str]]:
    """Deletes future flights with nothing sold; returns (kept booked flights, removed ids)."""
    future = await repo.lock_future_flights(session, schedule_id, now)
    kept = [
        KeptFlight(id=f.id, flight_number=f.flight_number, service_date=f.service_date)
        for f in future
        if f.sold > 0
    ]
    removed_ids = [f.id for f in future if f.sold == 0]
    await flights_repo.delete_flights(session, removed_ids)
    return kept, removed_ids


async def _get_schedule(
    session: AsyncSession, schedule_id: str, *, for_update: bool = False
) -> Schedule:
    schedule = await repo.get_schedule(session, schedule_id, for_update=for_update)
    if schedule is None:
        raise ScheduleNotFound()
    return schedule


def schedule_state(schedule: Schedule) -> dict[str, Any]:
    """The definition of a schedule as the audit log keeps it."""
    return schedule_to_read(schedule).model_dump(
        mode="json", exclude={"id", "created_by", "created_at", "updated_at", "source"}
    )


async def _record_change(
    session: AsyncSession, schedule_id: str, actor: Principal, **payload: Any
) -> None:
    # Consumers (caches, search) only need to know the schedule's flights changed.
    await record_event(
        session,
        SCHEDULE_CHANGED,
        aggregate_type="schedule",
        aggregate_id=schedule_id,
        payload={"schedule_id": schedule_id, **payload},
        actor_id=actor.user_id,
    )
