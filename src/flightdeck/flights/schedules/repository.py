"""SQL for schedules and for the dated flights a schedule owns.

Dated flights themselves are inserted, looked up and deleted with `flights.repository`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any, TypeVar, cast

from sqlalchemy import Table, func, insert, select, text, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession

from flightdeck.flights.models import Flight, FlightCabin, Schedule
from flightdeck.platform.clock import utcnow

T = TypeVar("T")

# Keeps every IN (...) list well under the bind-parameter limits of SQLite and asyncpg.
_IN_CHUNK = 500


def _chunks(values: Sequence[T], size: int = _IN_CHUNK) -> Iterator[Sequence[T]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


@dataclass(frozen=True)
class FutureFlight:
    """A future flight of a schedule and the seats sold on it (all cabins)."""

    id: str
    flight_number: str
    service_date: date
    leg_sequence: int
    departure_at: datetime
    arrival_at: datetime
    aircraft: str | None
    sold: int


# The tables an import fills, which every search reads.
_IMPORTED_TABLES = (Schedule.__tablename__, Flight.__tablename__, FlightCabin.__tablename__)


async def refresh_statistics(session: AsyncSession) -> None:
    """Brings PostgreSQL's planner statistics of the imported tables up to date (ANALYZE, in
    the session's transaction), as after any bulk load: autovacuum would only do it a minute
    or more later, and until then the planner plans searches on the old row counts (a table
    that was empty: a handful of rows). SQLite plans without statistics: nothing to do."""
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(text(f"ANALYZE {', '.join(_IMPORTED_TABLES)}"))


async def add_schedules(
    session: AsyncSession, schedules: Iterable[Schedule], *, keep_in_session: bool = True
) -> None:
    """Inserts the schedules (flushed before their flights, which reference them). Without
    `keep_in_session` they are inserted as plain rows, for imports of thousands."""
    if keep_in_session:
        session.add_all(list(schedules))
        await session.flush()
        return
    now = utcnow()
    columns = [column.key for column in Schedule.__table__.columns]
    rows = [
        {**{name: getattr(s, name) for name in columns}, "created_at": now, "updated_at": now}
        for s in schedules
    ]
    if rows:
        await session.execute(insert(cast(Table, Schedule.__table__)), rows)


async def link_flights(session: AsyncSession, schedule_ids: dict[str, str]) -> None:
    """Moves flights (id -> schedule id) to another schedule."""
    for flight_id, schedule_id in schedule_ids.items():
        await session.execute(
            update(Flight)
            .where(Flight.id == flight_id)
            .values(schedule_id=schedule_id)
            .execution_options(synchronize_session=False)
        )


async def get_schedule(
    session: AsyncSession, schedule_id: str, *, for_update: bool = False
) -> Schedule | None:
    """The schedule; `for_update` locks its row (PostgreSQL) so changes to it queue up."""
    statement = select(Schedule).where(Schedule.id == schedule_id)
    if for_update:
        statement = statement.with_for_update().execution_options(populate_existing=True)
    return (await session.scalars(statement)).one_or_none()


async def list_schedules(
    session: AsyncSession,
    *,
    flight_number: str | None,
    origin: str | None,
    destination: str | None,
    after: list[Any] | None,
    limit: int,
) -> list[Schedule]:
    """Schedules ordered by (flight_number, valid_from, id); `after` is the last row's keys."""
    query = select(Schedule)
    if flight_number:
        query = query.where(Schedule.flight_number == flight_number)
    if origin:
        query = query.where(Schedule.origin == origin)
    if destination:
        query = query.where(Schedule.destination == destination)
    if after is not None:
        last_number, last_from, last_id = after
        query = query.where(
            tuple_(Schedule.flight_number, Schedule.valid_from, Schedule.id)
            > tuple_(last_number, last_from, last_id)
        )
    query = query.order_by(Schedule.flight_number, Schedule.valid_from, Schedule.id).limit(limit)
    return list((await session.scalars(query)).all())


async def find_schedules_for_flight_numbers(
    session: AsyncSession, flight_numbers: Sequence[str]
) -> list[Schedule]:
    found: list[Schedule] = []
    for chunk in _chunks(sorted(set(flight_numbers))):
        rows = await session.scalars(
            select(Schedule)
            .where(Schedule.flight_number.in_(chunk))
            .order_by(
                Schedule.flight_number, Schedule.leg_sequence, Schedule.valid_from, Schedule.id
            )
        )
        found.extend(rows.all())
    return found


ScheduleKey = tuple[str, int, str, date, date, str]
ScheduleTiming = tuple[str, time, time, int]


async def find_schedule_keys(
    session: AsyncSession, flight_numbers: Sequence[str]
) -> dict[ScheduleKey, ScheduleTiming]:
    """Every schedule of these flight numbers as (flight_number, leg_sequence, origin,
    valid_from, valid_to, days) -> (destination, departure, arrival, arrival day offset):
    what an import compares new legs with, read without loading whole schedules."""
    found: dict[ScheduleKey, ScheduleTiming] = {}
    for chunk in _chunks(sorted(set(flight_numbers))):
        rows = await session.execute(
            select(
                Schedule.flight_number,
                Schedule.leg_sequence,
                Schedule.origin,
                Schedule.valid_from,
                Schedule.valid_to,
                Schedule.days_of_week,
                Schedule.destination,
                Schedule.departure_local,
                Schedule.arrival_local,
                Schedule.arrival_day_offset,
            ).where(Schedule.flight_number.in_(chunk))
        )
        for number, leg, origin, start, end, days, *timing in rows:
            found[(number, leg, origin, start, end, days)] = (
                timing[0],
                timing[1],
                timing[2],
                timing[3],
            )
    return found


async def delete_schedule(session: AsyncSession, schedule: Schedule) -> None:
    """Deletes the schedule; flights it generated stay, no longer linked to it."""
    await session.execute(
        update(Flight).where(Flight.schedule_id == schedule.id).values(schedule_id=None)
    )
    await session.delete(schedule)
    await session.flush()


async def count_future_flights(
    session: AsyncSession, schedule_id: str, departing_after: datetime
) -> tuple[int, int]:
    """(future flights of the schedule, how many of them have seats sold)."""
    sold_per_flight = (
        select(Flight.id, func.coalesce(func.sum(FlightCabin.sold), 0).label("sold"))
        .outerjoin(FlightCabin, FlightCabin.flight_id == Flight.id)
        .where(Flight.schedule_id == schedule_id, Flight.departure_at >= departing_after)
        .group_by(Flight.id)
        .subquery()
    )
    row = (
        await session.execute(
            select(
                func.count(sold_per_flight.c.id),
                func.count(sold_per_flight.c.id).filter(sold_per_flight.c.sold > 0),
            )
        )
    ).one()
    return int(row[0]), int(row[1])


async def lock_future_flights(
    session: AsyncSession, schedule_id: str, departing_after: datetime
) -> list[FutureFlight]:
    """The schedule's future flights with the seats sold on each, locked until commit.

    The lock makes a concurrent booking wait for this transaction, so a flight read here as
    unsold cannot sell a seat before it is removed.
    """
    rows = await session.execute(
        select(
            Flight.id,
            Flight.flight_number,
            Flight.service_date,
            Flight.leg_sequence,
            Flight.departure_at,
            Flight.arrival_at,
            Flight.aircraft,
            FlightCabin.sold,
        )
        .outerjoin(FlightCabin, FlightCabin.flight_id == Flight.id)
        .where(Flight.schedule_id == schedule_id, Flight.departure_at >= departing_after)
        .order_by(Flight.departure_at, Flight.id)
        # The flight rows: a booking share-locks its flight before it sells (and a cargo
        # flight has no cabin row to lock).
        .with_for_update(of=Flight)
    )
    flights: dict[str, FutureFlight] = {}
    for flight_id, number, service_date, leg, departure_at, arrival_at, aircraft, sold in rows:
        known = flights.get(flight_id)
        total = (sold or 0) + (known.sold if known else 0)
        flights[flight_id] = FutureFlight(
            flight_id, number, service_date, leg, departure_at, arrival_at, aircraft, total
        )
    return list(flights.values())


# --- the SSIM export ------------------------------------------------------------------------


async def export_schedules_page(
    session: AsyncSession,
    carrier: str | None,
    window: tuple[date | None, date | None],
    after: tuple[str, str] | None,
    limit: int,
) -> list[Schedule]:
    """Active schedules by (flight_number, id) after `after`, whose legs may fly in the
    window of flight dates (a downline leg departs at most a week after its flight date)."""
    statement = select(Schedule).where(Schedule.status == "active")
    if carrier:
        statement = statement.where(Schedule.flight_number.like(f"{carrier}%"))
    first, last = window
    if first is not None:
        statement = statement.where(Schedule.valid_to >= first)
    if last is not None:
        statement = statement.where(Schedule.valid_from <= last + timedelta(days=7))
    if after is not None:
        statement = statement.where(tuple_(Schedule.flight_number, Schedule.id) > tuple_(*after))
    statement = statement.order_by(Schedule.flight_number, Schedule.id).limit(limit)
    return list(await session.scalars(statement))


async def export_flights_page(
    session: AsyncSession,
    carrier: str | None,
    window: tuple[date | None, date | None],
    after: tuple[str, date, int] | None,
    limit: int,
) -> list[Flight]:
    """Flights of no schedule (created one at a time), not cancelled, with their cabins, by
    (flight_number, flight_date, leg_sequence) after `after`, flight date in the window."""
    statement = select(Flight).where(Flight.schedule_id.is_(None), Flight.status != "cancelled")
    if carrier:
        statement = statement.where(Flight.flight_number.like(f"{carrier}%"))
    first, last = window
    if first is not None:
        statement = statement.where(Flight.flight_date >= first)
    if last is not None:
        statement = statement.where(Flight.flight_date <= last)
    if after is not None:
        statement = statement.where(
            tuple_(Flight.flight_number, Flight.flight_date, Flight.leg_sequence) > tuple_(*after)
        )
    statement = statement.order_by(
        Flight.flight_number, Flight.flight_date, Flight.leg_sequence
    ).limit(limit)
    return list(await session.scalars(statement))


async def export_envelope(session: AsyncSession, carrier: str | None) -> tuple[date, date] | None:
    """The first and last dates the active schedules and lone flights of the carrier cover."""
    schedules = select(func.min(Schedule.valid_from), func.max(Schedule.valid_to)).where(
        Schedule.status == "active"
    )
    flights = select(func.min(Flight.flight_date), func.max(Flight.flight_date)).where(
        Flight.schedule_id.is_(None)
    )
    if carrier:
        schedules = schedules.where(Schedule.flight_number.like(f"{carrier}%"))
        flights = flights.where(Flight.flight_number.like(f"{carrier}%"))
    bounds = [*(await session.execute(schedules)).one(), *(await session.execute(flights)).one()]
    firsts = [day for day in bounds[0::2] if day is not None]
    lasts = [day for day in bounds[1::2] if day is not None]
    return (min(firsts), max(lasts)) if firsts and lasts else None
