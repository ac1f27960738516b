"""SQL for schedules and for the dated flights a schedule owns.

Dated flights themselves are inserted, looked up and deleted with `flights.repository`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, TypeVar

from sqlalchemy import func, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession

from flightdeck.flights.models import Flight, FlightCabin, Schedule

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
    sold: int


async def add_schedules(session: AsyncSession, schedules: Iterable[Schedule]) -> None:
    # Flushed before their flights, which reference them.
    session.add_all(list(schedules))
    await session.flush()


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
        rows = await session.scalars(select(Schedule).where(Schedule.flight_number.in_(chunk)))
        found.extend(rows.all())
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
        select(Flight.id, func.sum(FlightCabin.sold).label("sold"))
        .join(FlightCabin, FlightCabin.flight_id == Flight.id)
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
    """The schedule's future flights with seats sold, their cabins locked until commit.

    The lock makes a concurrent booking wait for this transaction, so a flight read here as
    unsold cannot sell a seat before it is removed.
    """
    rows = await session.execute(
        select(Flight.id, Flight.flight_number, Flight.service_date, FlightCabin.sold)
        .join(FlightCabin, FlightCabin.flight_id == Flight.id)
        .where(Flight.schedule_id == schedule_id, Flight.departure_at >= departing_after)
        .order_by(Flight.departure_at, Flight.id)
        .with_for_update(of=FlightCabin)
    )
    flights: dict[str, FutureFlight] = {}
    for flight_id, flight_number, service_date, sold in rows:
        known = flights.get(flight_id)
        total = sold + (known.sold if known else 0)
        flights[flight_id] = FutureFlight(flight_id, flight_number, service_date, total)
    return list(flights.values())
