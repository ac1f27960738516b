"""Recurring schedules: their definition, and the dated flights they generate in UTC.

A schedule is written in airport local times (flights/schedules/generation.py turns it into
dated flights). Every write to schedules goes through this module, whatever asked for it: the
API, an SSIM import (`store_imported_schedules`) or an SSM message (`create_schedule`,
`replace_schedule`), so the same rules apply and the `schedule.changed` events are recorded in
one place.

Changing or deleting a schedule touches only its future flights with nothing sold: those are
removed (and, on a change, generated again from the new definition). Future flights with seats
sold are kept as they are and reported; where a kept flight no longer matches its schedule
(removed from it, other times or aircraft), a `flight.schedule_changed` event tells its
passengers. Past flights are never touched. When a schedule is deleted, the flights it leaves
behind stay as standalone flights (`schedule_id` null).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from flightdeck.flights import repository as flights_repo
from flightdeck.flights.airports import get_airport
from flightdeck.flights.drafts import FlightDraft, build_flight, flight_rows
from flightdeck.flights.errors import DuplicateFlight, ScheduleNotFound
from flightdeck.flights.itineraries.service import invalidate_flight_searches
from flightdeck.flights.models import Flight, Schedule
from flightdeck.flights.schedules import repository as repo
from flightdeck.flights.schedules.generation import (
    DatedTimes,
    FlightPlan,
    dated_times,
    flight_date_range,
    plan_flights,
)
from flightdeck.flights.schedules.kept import (
    KeptChanges,
    kept_flight_changes,
    record_kept_flight_changes,
)
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
from flightdeck.flights.schemas import flight_to_read
from flightdeck.platform.audit import changed_fields, record_audit
from flightdeck.platform.clock import utcnow
from flightdeck.platform.db import new_id
from flightdeck.platform.errors import Unprocessable
from flightdeck.platform.events.outbox import record_event
from flightdeck.platform.pagination import Page, PageParams, encode_cursor
from flightdeck.platform.security.auth import Principal

SCHEDULE_CHANGED = "schedule.changed"


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


def definition_of(schedule: Schedule) -> ScheduleCreate:
    """The stored schedule as the definition an API client would send for it."""
    fields = {name: getattr(schedule, name) for name in ScheduleCreate.model_fields}
    return ScheduleCreate.model_validate(fields)


# --- create ------------------------------------------------------------------------------


async def create_schedule(
    session: AsyncSession, definition: ScheduleCreate, actor: Principal, *, source: str = "api"
) -> ScheduleCreated:
    """Stores the schedule and generates its future flights (existing dates are skipped)."""
    check_airports(definition)
    dated = dated_times(definition)
    schedule = new_schedule(definition, source=source, created_by=actor.user_id)
    await repo.add_schedules(session, [schedule])
    plan = await _generate(session, schedule.id, definition, dated, utcnow())
    flights = await store_flights(session, plan.flights)
    await _record_change(
        session, schedule.id, actor.user_id, action="created", flights_created=len(flights)
    )
    await record_audit(
        session,
        action="create",
        entity="schedule",
        entity_id=schedule.id,
        after={**schedule_state(schedule), "flights_created": len(flights)},
    )
    return ScheduleCreated(
        schedule=schedule_to_read(schedule),
        flights_created=len(flights),
        flights=[flight_to_read(flight) for flight in flights],
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
    start, end = flight_date_range(definition)
    taken = await flights_repo.find_flight_keys(session, {definition.flight_number}, start, end)
    return plan_flights(schedule_id, definition, dated, taken, now, kept_dates)


async def store_flights(session: AsyncSession, drafts: Sequence[FlightDraft]) -> list[Flight]:
    """Inserts planned flights; a 409 if a concurrent request took one of their dates."""
    flights = [build_flight(draft) for draft in drafts]
    try:
        await flights_repo.add_flights(session, flights)
    except IntegrityError as exc:
        # Only a race gets here: the keys were checked in this transaction just before.
        raise DuplicateFlight(
            "Another change created a flight on one of these dates meanwhile; retry"
        ) from exc
    await invalidate_flight_searches(session, {(f.origin, f.destination) for f in flights})
    return flights


@dataclass(frozen=True)
class ImportedSchedule:
    """One leg of an SSIM file to store: its line and its definition, already checked
    (airports known, `dated` from `dated_times`)."""

    line_number: int
    definition: ScheduleCreate
    dated: list[DatedTimes]


@dataclass(frozen=True)
class ImportedFlights:
    """What storing one imported leg did: flights created, and dates skipped because its
    flight number already flies then (or the day has passed)."""

    line_number: int
    created: int
    dates_taken: int
    dates_passed: int


async def store_imported_schedules(
    session: AsyncSession, legs: Sequence[ImportedSchedule], actor_id: str | None
) -> list[ImportedFlights]:
    """Stores a batch of imported legs and their future flights, in bulk (no objects kept in
    the session), skipping the dates whose (flight number, flight date, leg) is taken."""
    if not legs:
        return []
    schedules = [new_schedule(leg.definition, source="ssim", created_by=actor_id) for leg in legs]
    starts, ends = zip(*(flight_date_range(leg.definition) for leg in legs), strict=True)
    taken = await flights_repo.find_flight_keys(
        session, {leg.definition.flight_number for leg in legs}, min(starts), max(ends)
    )
    now = utcnow()
    drafts: list[FlightDraft] = []
    outcomes: list[ImportedFlights] = []
    for schedule, leg in zip(schedules, legs, strict=True):
        plan = plan_flights(schedule.id, leg.definition, leg.dated, taken, now)
        drafts.extend(plan.flights)
        reasons = [skipped.reason for skipped in plan.skipped]
        outcomes.append(
            ImportedFlights(
                leg.line_number,
                len(plan.flights),
                reasons.count("flight_exists"),
                reasons.count("departure_passed"),
            )
        )
    await repo.add_schedules(session, schedules, keep_in_session=False)
    await flights_repo.add_flight_rows(session, *flight_rows(drafts))
    await invalidate_flight_searches(session, {(d.origin, d.destination) for d in drafts})
    batch_id = new_id()
    summary = {"schedule_ids": [s.id for s in schedules], "flights_created": len(drafts)}
    await record_audit(
        session,
        action="import",
        entity="schedule_import",
        entity_id=batch_id,
        after={**summary, "schedules_created": len(schedules)},
    )
    await record_event(
        session,
        SCHEDULE_CHANGED,
        aggregate_type="schedule",
        aggregate_id=batch_id,
        payload={"action": "imported", **summary},
        actor_id=actor_id,
    )
    return outcomes


# --- read --------------------------------------------------------------------------------


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


async def schedules_of_flight(session: AsyncSession, flight_number: str) -> list[Schedule]:
    """Every schedule (leg and period) of the flight number, by leg and period."""
    return await repo.find_schedules_for_flight_numbers(session, [flight_number])


# --- change and delete -------------------------------------------------------------------


@dataclass(frozen=True)
class Replacement:
    """What `replace_schedule` did."""

    schedules: list[Schedule]
    flights_created: int
    flights_removed: int
    kept_flights: list[KeptFlight]
    skipped: list[SkippedDate]


async def update_schedule(
    session: AsyncSession, schedule_id: str, definition: ScheduleCreate, actor: Principal
) -> ScheduleChanged:
    """Replaces the definition and regenerates the future flights with nothing sold."""
    done = await replace_schedule(session, schedule_id, [definition], actor)
    return ScheduleChanged(
        schedule=schedule_to_read(done.schedules[0]),
        flights_created=done.flights_created,
        flights_removed=done.flights_removed,
        kept_flights=done.kept_flights,
        skipped=done.skipped,
    )


async def replace_schedule(
    session: AsyncSession,
    schedule_id: str,
    definitions: Sequence[ScheduleCreate],
    actor: Principal,
    *,
    action: str = "updated",
) -> Replacement:
    """The schedule becomes `definitions[0]`; each further definition becomes a new schedule
    (an SSM message splits a period this way). Future unsold flights are removed and generated
    again from the definitions; booked ones are kept, reported, moved to the definition whose
    dates cover theirs, and their passengers told where they no longer match it."""
    if not definitions:
        raise ValueError("replace_schedule needs at least one definition")
    schedule = await _get_schedule(session, schedule_id, for_update=True)
    await invalidate_flight_searches(session, [(schedule.origin, schedule.destination)])
    for definition in definitions:
        check_airports(definition)
    dated = [dated_times(definition) for definition in definitions]  # 422 before any write
    now = utcnow()
    future, removed_ids = await _remove_unsold_future_flights(session, schedule.id, now)
    before = schedule_state(schedule)
    apply_definition(schedule, definitions[0])
    others = [
        new_schedule(d, source=schedule.source, created_by=actor.user_id) for d in definitions[1:]
    ]
    await repo.add_schedules(session, others)
    schedules = [schedule, *others]
    changes = kept_flight_changes(future, [s.id for s in schedules], definitions, dated)
    await repo.link_flights(session, changes.new_schedule_ids)
    kept_dates = frozenset(flight.service_date for flight in future)
    created = 0
    skipped: list[SkippedDate] = []
    for each, definition, days in zip(schedules, definitions, dated, strict=True):
        plan = await _generate(session, each.id, definition, days, now, kept_dates)
        created += len(await store_flights(session, plan.flights))
        skipped.extend(plan.skipped)
    await record_kept_flight_changes(session, changes.kept, actor.user_id)
    await _record_change(
        session,
        schedule.id,
        actor.user_id,
        action=action,
        flights_created=created,
        removed_flight_ids=removed_ids,
        kept_flight_ids=[f.id for f in changes.kept],
        new_schedule_ids=[s.id for s in others],
    )
    await _audit_replacement(session, before, schedules, action, created, removed_ids, changes)
    return Replacement(schedules, created, len(removed_ids), changes.kept, skipped)


async def _audit_replacement(
    session: AsyncSession,
    before: dict[str, Any],
    schedules: list[Schedule],
    action: str,
    created: int,
    removed_ids: list[str],
    changes: KeptChanges,
) -> None:
    """One `update` entry for the schedule changed (the SSM action that changed it, and the
    schedules split off it), one `create` entry for each schedule split off."""
    schedule, *others = schedules
    changed_before, changed_after = changed_fields(before, schedule_state(schedule))
    if action != "updated":
        changed_after["change"] = action
    if others:
        changed_after["new_schedule_ids"] = [s.id for s in others]
    await record_audit(
        session,
        action="update",
        entity="schedule",
        entity_id=schedule.id,
        before=changed_before,
        after={
            **changed_after,
            "flights_created": created,
            "flights_removed": len(removed_ids),
            "flights_kept": len(changes.kept),
        },
    )
    for other in others:
        after = {**schedule_state(other), "split_from": schedule.id}
        await record_audit(
            session, action="create", entity="schedule", entity_id=other.id, after=after
        )


async def delete_schedule(
    session: AsyncSession, schedule_id: str, actor: Principal
) -> ScheduleDeleted:
    """Deletes the schedule and its unsold future flights; the others stay, unlinked."""
    schedule = await _get_schedule(session, schedule_id, for_update=True)
    await invalidate_flight_searches(session, [(schedule.origin, schedule.destination)])
    future, removed_ids = await _remove_unsold_future_flights(session, schedule.id, utcnow())
    kept = kept_flight_changes(future, [], [], []).kept
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
    await record_kept_flight_changes(session, kept, actor.user_id)
    await _record_change(
        session,
        schedule_id,
        actor.user_id,
        action="deleted",
        removed_flight_ids=removed_ids,
        kept_flight_ids=[f.id for f in kept],
    )
    return ScheduleDeleted(flights_removed=len(removed_ids), kept_flights=kept)


async def _remove_unsold_future_flights(
    session: AsyncSession, schedule_id: str, now: datetime
) -> tuple[list[repo.FutureFlight], list[str]]:
    """Deletes future flights with nothing sold; returns (kept booked flights, removed ids)."""
    future = await repo.lock_future_flights(session, schedule_id, now)
    removed_ids = [f.id for f in future if f.sold == 0]
    await flights_repo.delete_flights(session, removed_ids)
    return [f for f in future if f.sold > 0], removed_ids


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
    session: AsyncSession, schedule_id: str, actor_id: str | None, **payload: Any
) -> None:
    # Consumers (caches, search) only need to know the schedule's flights changed.
    await record_event(
        session,
        SCHEDULE_CHANGED,
        aggregate_type="schedule",
        aggregate_id=schedule_id,
        payload={"schedule_id": schedule_id, **payload},
        actor_id=actor_id,
    )
