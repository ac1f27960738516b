"""All SQL of dated flights, their cabins and their status history.

Module-level functions taking the request's `AsyncSession`; none of them commits (the request
session dependency does). Functions that write `flush()` so database errors surface here.

Used by the flights service and by the schedules service (which stores generated flights with
`add_flights` or, for SSIM imports, `add_flight_rows`, skips existing ones with
`find_flight_keys`, and regenerates with `list_schedule_flights` + `delete_flights`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, cast

from sqlalchemy import Select, Table, and_, delete, exists, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from flightdeck.flights.models import Flight, FlightCabin, FlightStatusChange

# Bound parameters per IN (...) list: far below SQLite's and asyncpg's limits.
_IN_CHUNK = 500
# Rows per bulk INSERT statement (SQLAlchemy splits them further into its own batches).
_INSERT_CHUNK = 2000
FlightKey = tuple[str, date, int]
# Bulk inserts go to the tables themselves (Core): the ORM's per-row work costs half the time.
_FLIGHTS = cast(Table, Flight.__table__)
_CABINS = cast(Table, FlightCabin.__table__)


def _chunks(values: Sequence[str], size: int = _IN_CHUNK) -> Iterable[Sequence[str]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


# --- used by the schedules service -------------------------------------------------------


async def add_flights(session: AsyncSession, flights: list[Flight]) -> None:
    """Inserts the flights with their cabins (built by `service.build_flight`) and flushes.

    A (flight_number, flight_date, leg_sequence) that already exists raises `IntegrityError`
    and leaves the caller's transaction unusable: filter with `find_flight_keys` first.
    """
    if not flights:
        return
    session.add_all(flights)
    await session.flush()


async def add_flight_rows(
    session: AsyncSession, flights: list[dict[str, Any]], cabins: list[dict[str, Any]]
) -> None:
    """Inserts many flights and their cabins as plain rows (`drafts.flight_rows`), without
    putting objects in the session. A taken (flight_number, flight_date, leg_sequence) raises
    `IntegrityError`: filter with `find_flight_keys` first."""
    for start in range(0, len(flights), _INSERT_CHUNK):
        await session.execute(insert(_FLIGHTS), flights[start : start + _INSERT_CHUNK])
    for start in range(0, len(cabins), _INSERT_CHUNK):
        await session.execute(insert(_CABINS), cabins[start : start + _INSERT_CHUNK])


async def find_flight_keys(
    session: AsyncSession, flight_numbers: set[str], start: date, end: date
) -> set[FlightKey]:
    """The (flight_number, flight_date, leg_sequence) keys that already exist, with
    flight_date in [start, end]."""
    keys: set[FlightKey] = set()
    for numbers in _chunks(sorted(flight_numbers)):
        rows = await session.execute(
            select(Flight.flight_number, Flight.flight_date, Flight.leg_sequence).where(
                Flight.flight_number.in_(numbers),
                Flight.flight_date >= start,
                Flight.flight_date <= end,
            )
        )
        keys.update((number, day, leg) for number, day, leg in rows)
    return keys


async def count_legs(session: AsyncSession, flight_number: str, flight_date: date) -> int:
    """How many legs the flight with this number has on this flight date."""
    count = await session.scalar(
        select(func.count())
        .select_from(Flight)
        .where(Flight.flight_number == flight_number, Flight.flight_date == flight_date)
    )
    return int(count or 0)


async def list_schedule_flights(
    session: AsyncSession, schedule_id: str, *, departing_after: datetime
) -> list[Flight]:
    """The schedule's flights departing strictly after that instant, by departure, cabins loaded."""
    result = await session.scalars(
        select(Flight)
        .where(Flight.schedule_id == schedule_id, Flight.departure_at > departing_after)
        .order_by(Flight.departure_at, Flight.id)
    )
    return list(result)


async def delete_flights(session: AsyncSession, flight_ids: list[str]) -> None:
    """Deletes these flights with their cabins and status history (no check of sold seats)."""
    for ids in _chunks(flight_ids):
        await session.execute(
            delete(FlightStatusChange)
            .where(FlightStatusChange.flight_id.in_(ids))
            .execution_options(synchronize_session=False)
        )
        await session.execute(
            delete(FlightCabin)
            .where(FlightCabin.flight_id.in_(ids))
            .execution_options(synchronize_session=False)
        )
        await session.execute(
            delete(Flight).where(Flight.id.in_(ids)).execution_options(synchronize_session=False)
        )
    # The deleted rows' objects may sit in the identity map: forget them (cabins cascade).
    deleted = set(flight_ids)
    for obj in list(session.identity_map.values()):
        if (isinstance(obj, Flight) and obj.id in deleted) or (
            isinstance(obj, FlightStatusChange) and obj.flight_id in deleted
        ):
            session.expunge(obj)


# --- single flights ----------------------------------------------------------------------


async def add_flight(session: AsyncSession, flight: Flight) -> bool:
    """Inserts one flight with its cabins; False (and nothing written) when its
    (flight_number, flight_date, leg_sequence) already exists.

    Runs in a SAVEPOINT so a lost race on the unique constraint leaves the request's
    transaction usable.
    """
    key = (flight.flight_number, flight.flight_date, flight.leg_sequence)
    try:
        async with session.begin_nested():
            session.add(flight)
            await session.flush()
    except IntegrityError:
        if await flight_key_exists(session, key):
            return False
        raise
    return True


async def flight_key_exists(session: AsyncSession, key: FlightKey) -> bool:
    """Whether a flight has this (flight_number, flight_date, leg_sequence)."""
    flight_number, flight_date, leg_sequence = key
    condition = and_(
        Flight.flight_number == flight_number,
        Flight.flight_date == flight_date,
        Flight.leg_sequence == leg_sequence,
    )
    return bool(await session.scalar(select(exists().where(condition))))


async def flush_flight_changes(session: AsyncSession) -> bool:
    """Flushes pending changes in a SAVEPOINT; False when the unique (flight_number,
    flight_date, leg_sequence) key was violated (the changes are then discarded)."""
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError:
        return False
    return True


async def get_flight(
    session: AsyncSession, flight_id: str, *, for_update: bool = False
) -> Flight | None:
    """The flight with its cabins; `for_update` locks its row (PostgreSQL) for a write."""
    statement = select(Flight).where(Flight.id == flight_id)
    if for_update:
        statement = statement.with_for_update().execution_options(populate_existing=True)
    return (await session.scalars(statement)).one_or_none()


async def find_flights_by_number(
    session: AsyncSession, flight_number: str, service_date: date, origin: str | None = None
) -> list[Flight]:
    """The legs with this number departing on this service date (local date at their
    origin), from `origin` when given, in leg order: one, except for multi-leg flights."""
    statement = select(Flight).where(
        Flight.flight_number == flight_number, Flight.service_date == service_date
    )
    if origin is not None:
        statement = statement.where(Flight.origin == origin)
    statement = statement.order_by(Flight.departure_at, Flight.leg_sequence)
    return list(await session.scalars(statement))


async def reload_flight(session: AsyncSession, flight_id: str) -> Flight | None:
    """The flight and its cabins read again from the database (after bulk updates)."""
    statement = (
        select(Flight).where(Flight.id == flight_id).execution_options(populate_existing=True)
    )
    return (await session.scalars(statement)).one_or_none()


async def delete_flight_if_unsold(session: AsyncSession, flight_id: str) -> bool:
    """Deletes the flight with its cabins and history only if no seat of it is sold; False
    (and nothing deleted) otherwise.

    The cabins go first with a conditional delete, so a seat sold concurrently is never lost.
    """
    savepoint = await session.begin_nested()
    await session.execute(
        delete(FlightCabin)
        .where(FlightCabin.flight_id == flight_id, FlightCabin.sold == 0)
        .execution_options(synchronize_session=False)
    )
    remaining = await session.scalar(
        select(func.count()).select_from(FlightCabin).where(FlightCabin.flight_id == flight_id)
    )
    if remaining:
        await savepoint.rollback()
        return False
    await delete_flights(session, [flight_id])
    await savepoint.commit()
    return True


@dataclass(frozen=True)
class FlightQuery:
    """Filters of a flight listing, already resolved to indexable column conditions."""

    origin: str | None = None
    destination: str | None = None
    departing_from: datetime | None = None  # inclusive
    departing_before: datetime | None = None  # exclusive
    service_date: date | None = None
    status: str | None = None
    flight_number: str | None = None


def _filtered(query: FlightQuery) -> Select[Flight]:
    statement = select(Flight)
    if query.origin is not None:
        statement = statement.where(Flight.origin == query.origin)
    if query.destination is not None:
        statement = statement.where(Flight.destination == query.destination)
    if query.departing_from is not None:
        statement = statement.where(Flight.departure_at >= query.departing_from)
    if query.departing_before is not None:
        statement = statement.where(Flight.departure_at < query.departing_before)
    if query.service_date is not None:
        statement = statement.where(Flight.service_date == query.service_date)
    if query.status is not None:
        statement = statement.where(Flight.status == query.status)
    if query.flight_number is not None:
        statement = statement.where(Flight.flight_number == query.flight_number)
    return statement


async def list_flights(
    session: AsyncSession,
    query: FlightQuery,
    *,
    limit: int,
    after: tuple[datetime, str] | None = None,
) -> list[Flight]:
    """Up to `limit` flights ordered by (departure_at, id), strictly after the keyset `after`.

    Cabins come in one extra (selectin) query for the whole page.
    """
    statement = _filtered(query)
    if after is not None:
        after_departure, after_id = after
        statement = statement.where(
            Flight.departure_at >= after_departure,  # lets the planner use the range index
            or_(
                Flight.departure_at > after_departure,
                and_(Flight.departure_at == after_departure, Flight.id > after_id),
            ),
        )
    statement = statement.order_by(Flight.departure_at, Flight.id).limit(limit)
    return list(await session.scalars(statement))


# --- cabins ------------------------------------------------------------------------------


async def set_cabin_inventory(
    session: AsyncSession, cabin_id: str, *, capacity: int, fare_amount: int, fare_currency: str
) -> bool:
    """Sets a cabin's capacity and fare unless more seats are already sold; False then.

    One conditional update, so a booking selling seats at the same time cannot slip under it.
    """
    result = await session.execute(
        update(FlightCabin)
        .where(FlightCabin.id == cabin_id, FlightCabin.sold <= capacity)
        .values(capacity=capacity, fare_amount=fare_amount, fare_currency=fare_currency)
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0))


async def delete_unsold_cabin(session: AsyncSession, cabin_id: str) -> bool:
    """Deletes the cabin if none of its seats is sold; False when some are."""
    result = await session.execute(
        delete(FlightCabin)
        .where(FlightCabin.id == cabin_id, FlightCabin.sold == 0)
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0))


async def add_cabin(session: AsyncSession, cabin: FlightCabin) -> None:
    session.add(cabin)
    await session.flush()


# --- status history ----------------------------------------------------------------------


async def add_status_change(session: AsyncSession, change: FlightStatusChange) -> None:
    session.add(change)
    await session.flush()


async def list_status_changes(
    session: AsyncSession, flight_id: str, *, limit: int = 500
) -> list[FlightStatusChange]:
    """The flight's status changes, newest first."""
    result = await session.scalars(
        select(FlightStatusChange)
        .where(FlightStatusChange.flight_id == flight_id)
        .order_by(FlightStatusChange.changed_at.desc(), FlightStatusChange.id.desc())
        .limit(limit)
    )
    return list(result)


async def latest_status_change(session: AsyncSession, flight_id: str) -> FlightStatusChange | None:
    changes = await list_status_changes(session, flight_id, limit=1)
    return changes[0] if changes else None
