"""All SQL of seat inventory: cabin counters, seat assignments and per-booking hold rows.

Module-level functions taking the caller's `AsyncSession`; none commits. Counters only move
through conditional UPDATEs whose rowcount is checked; bulk statements bypass the identity
map, so `refresh_cabins` reloads a flight's cabins after them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import case, delete, exists, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from flightdeck.flights.models import Flight, FlightCabin, InventoryHold, SeatAssignment


async def lock_flight_for_booking(session: AsyncSession, flight_id: str) -> Flight | None:
    """The flight and its cabins, read fresh, with a shared row lock on PostgreSQL (SQLite
    already serialises writers): a concurrent status change or cancellation, which locks the
    row for update, waits for this booking's transaction, or this one sees its outcome."""
    statement = (
        select(Flight)
        .where(Flight.id == flight_id)
        .with_for_update(read=True)
        .execution_options(populate_existing=True)
    )
    return (await session.scalars(statement)).one_or_none()


async def take_seats(session: AsyncSession, flight_id: str, cabin: str, quantity: int) -> bool:
    """`sold += quantity` unless that would pass capacity; False (nothing changed) then."""
    result = await session.execute(
        update(FlightCabin)
        .where(
            FlightCabin.flight_id == flight_id,
            FlightCabin.cabin == cabin,
            FlightCabin.sold + quantity <= FlightCabin.capacity,
        )
        .values(sold=FlightCabin.sold + quantity)
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0))


async def return_seats(session: AsyncSession, flight_id: str, cabin: str, quantity: int) -> None:
    """`sold -= quantity`, never below zero, in one statement."""
    await session.execute(
        update(FlightCabin)
        .where(FlightCabin.flight_id == flight_id, FlightCabin.cabin == cabin)
        .values(
            sold=case(
                (FlightCabin.sold >= quantity, FlightCabin.sold - quantity),
                else_=0,
            )
        )
        .execution_options(synchronize_session=False)
    )


async def seats_left(session: AsyncSession, flight_id: str, cabin: str) -> int:
    """Capacity minus sold of the cabin as stored now (0 when the cabin is gone)."""
    left = await session.scalar(
        select(FlightCabin.capacity - FlightCabin.sold).where(
            FlightCabin.flight_id == flight_id, FlightCabin.cabin == cabin
        )
    )
    return max(int(left or 0), 0)


async def refresh_cabins(session: AsyncSession, flight_id: str) -> None:
    """Reloads the flight's cabins into the session after bulk updates of their counters."""
    await session.execute(
        select(FlightCabin)
        .where(FlightCabin.flight_id == flight_id)
        .execution_options(populate_existing=True)
    )


async def add_seat_assignments(
    session: AsyncSession, assignments: list[SeatAssignment]
) -> str | None:
    """Inserts the assignments in a SAVEPOINT; the seat that another booking already holds
    (and nothing written) when the unique (flight_id, seat) key refuses one, else None.

    Each row is flushed alone so the refused seat is known. Other integrity errors propagate.
    """
    if not assignments:
        return None
    current: SeatAssignment | None = None
    try:
        async with session.begin_nested():
            for assignment in assignments:
                current = assignment
                session.add(assignment)
                await session.flush()
    except IntegrityError:
        assert current is not None
        flight_id, seat = current.flight_id, current.seat
        if await _seat_assigned(session, flight_id, seat):
            return seat
        raise
    return None


async def _seat_assigned(session: AsyncSession, flight_id: str, seat: str) -> bool:
    condition = (SeatAssignment.flight_id == flight_id) & (SeatAssignment.seat == seat)
    return bool(await session.scalar(select(exists().where(condition))))


async def add_hold(session: AsyncSession, hold: InventoryHold) -> bool:
    """Inserts the hold row in a SAVEPOINT; False (nothing written) when the booking already
    holds seats on that flight."""
    try:
        async with session.begin_nested():
            session.add(hold)
            await session.flush()
    except IntegrityError:
        return False
    return True


@dataclass(frozen=True)
class HeldSeats:
    hold_id: str
    flight_id: str
    cabin: str
    quantity: int


async def find_holds(
    session: AsyncSession, booking_id: str, flight_ids: list[str]
) -> dict[str, HeldSeats]:
    """The booking's hold rows on those flights, by flight id (columns, not tracked objects)."""
    rows = await session.execute(
        select(
            InventoryHold.id, InventoryHold.flight_id, InventoryHold.cabin, InventoryHold.quantity
        ).where(InventoryHold.booking_id == booking_id, InventoryHold.flight_id.in_(flight_ids))
    )
    return {
        row.flight_id: HeldSeats(row.id, row.flight_id, row.cabin, row.quantity) for row in rows
    }


async def delete_hold(session: AsyncSession, hold_id: str) -> bool:
    """Deletes the hold row; False when it was already gone (another release took it). On
    PostgreSQL a concurrent delete of the same row waits for the first and then finds none."""
    result = await session.execute(
        delete(InventoryHold)
        .where(InventoryHold.id == hold_id)
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0))


async def delete_seat_assignments(session: AsyncSession, booking_id: str, flight_id: str) -> None:
    await session.execute(
        delete(SeatAssignment)
        .where(SeatAssignment.booking_id == booking_id, SeatAssignment.flight_id == flight_id)
        .execution_options(synchronize_session=False)
    )


async def taken_seats(session: AsyncSession, flight_id: str) -> set[str]:
    """The flight's assigned seats."""
    seats = await session.scalars(
        select(SeatAssignment.seat).where(SeatAssignment.flight_id == flight_id)
    )
    return set(seats)


async def bookings_with_holds(
    session: AsyncSession, *, held_before: datetime, limit: int
) -> list[str]:
    """Booking ids holding seats since before that instant (oldest holds first), at most
    `limit` of them."""
    rows = await session.scalars(
        select(InventoryHold.booking_id)
        .where(InventoryHold.created_at < held_before)
        .group_by(InventoryHold.booking_id)
        .order_by(func.min(InventoryHold.created_at), InventoryHold.booking_id)
        .limit(limit)
    )
    return list(rows)
