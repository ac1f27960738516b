"""All SQL of seat inventory: cabin counters, seat assignments and per-booking hold rows.

Module-level functions taking the caller's `AsyncSession`; none commits. Core statements, no
ORM objects on the hold path (one statement per flight on PostgreSQL, `hold_seats`; no
SAVEPOINT: inserts that may meet a unique key say ON CONFLICT DO NOTHING and report it).
Counters only move through conditional UPDATEs whose rowcount (or RETURNING) is checked;
bulk statements bypass the identity map, so
`refresh_cabins` reloads a flight's cabins after them when the session holds the flight.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Integer, String, Table, bindparam, case, delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.util import identity_key

from flightdeck.flights.models import Flight, FlightCabin, InventoryHold, SeatAssignment
from flightdeck.platform.clock import utcnow
from flightdeck.platform.compiled_reads import CompiledBatch, CompiledWrite
from flightdeck.platform.db import new_id
from flightdeck.platform.portable_sql import insert_skipping


@dataclass(frozen=True)
class CabinInventory:
    cabin: str
    capacity: int
    sold: int
    fare_amount: int
    fare_currency: str


@dataclass(frozen=True)
class FlightForBooking:
    """A flight's columns a hold needs, and its cabins by name (read, not tracked)."""

    id: str
    flight_number: str
    origin: str
    destination: str
    departure_at: datetime
    arrival_at: datetime
    status: str
    aircraft: str | None
    # A leg of a multi-leg flight: what SSIM traffic restrictions and service types decide on
    # (inventory/traffic.py).
    flight_date: date
    leg_sequence: int
    service_type: str
    traffic_restrictions: str | None
    cabins: tuple[CabinInventory, ...]


_FLIGHTS: Table = Flight.__table__  # type: ignore[assignment]
_CABINS: Table = FlightCabin.__table__  # type: ignore[assignment]
_HOLDS: Table = InventoryHold.__table__  # type: ignore[assignment]
_SEATS: Table = SeatAssignment.__table__  # type: ignore[assignment]
_CABIN_COLUMNS = ("cabin", "capacity", "sold", "fare_amount", "fare_currency")
FLIGHT_COLUMNS = (
    "id", "flight_number", "origin", "destination", "departure_at", "arrival_at", "status",
    "aircraft", "flight_date", "leg_sequence", "service_type", "traffic_restrictions",
)  # fmt: skip
_CABINS_AT = len(FLIGHT_COLUMNS)  # where a row's cabin columns start
# The flight's columns a hold reads, then a cabin's (NULLs without one), one row per cabin.
FLIGHT_WITH_CABINS = (
    select(
        *(_FLIGHTS.c[name] for name in FLIGHT_COLUMNS),
        *(_CABINS.c[name] for name in _CABIN_COLUMNS),
    )
    .select_from(_FLIGHTS.outerjoin(_CABINS, _CABINS.c.flight_id == _FLIGHTS.c.id))
    .where(_FLIGHTS.c.id == bindparam("flight_id", type_=String))
    .order_by(_CABINS.c.cabin)
)
_LOCK_FLIGHT = FLIGHT_WITH_CABINS.with_for_update(read=True, of=_FLIGHTS)


async def lock_flight_for_booking(session: AsyncSession, flight_id: str) -> FlightForBooking | None:
    """The flight and its cabins, read fresh in one statement, with a shared lock on the
    flight's row on PostgreSQL (SQLite already serialises writers): a concurrent status change
    or cancellation, which locks the row for update, waits for this booking's transaction, or
    this one sees its outcome."""
    rows = (await session.execute(_LOCK_FLIGHT, {"flight_id": flight_id})).all()
    return flight_for_booking(rows) if rows else None


def flight_for_booking(rows: Sequence[Any]) -> FlightForBooking:
    """The flight of rows (its columns, then a cabin's or NULLs), one row per cabin; SQLAlchemy
    rows or a compiled statement's named rows."""
    first = rows[0]
    return FlightForBooking(
        id=first.id,
        flight_number=first.flight_number,
        origin=first.origin,
        destination=first.destination,
        departure_at=first.departure_at,
        arrival_at=first.arrival_at,
        status=first.status,
        aircraft=first.aircraft,
        flight_date=first.flight_date,
        leg_sequence=first.leg_sequence,
        service_type=first.service_type,
        traffic_restrictions=first.traffic_restrictions,
        cabins=tuple(
            CabinInventory(*row[_CABINS_AT : _CABINS_AT + len(_CABIN_COLUMNS)])
            for row in rows
            if row.cabin is not None
        ),
    )


# Statements of the hold path, built once (bound values at execution): building one per call
# (and an ORM bulk UPDATE's extra steps) cost more CPU than PostgreSQL spent running it.
_TAKE_SEATS = (
    update(_CABINS)
    .where(
        # Not named as columns: an UPDATE keeps those names for its SET values.
        _CABINS.c.flight_id == bindparam("flight", type_=String),
        _CABINS.c.cabin == bindparam("cabin_name", type_=String),
        _CABINS.c.sold + bindparam("quantity", type_=Integer) <= _CABINS.c.capacity,
    )
    .values(sold=_CABINS.c.sold + bindparam("quantity", type_=Integer))
)


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


# What a refused hold reports (a fifth of the requests under the bench's load).
_SEATS_LEFT = select(_CABINS.c.capacity - _CABINS.c.sold).where(
    _CABINS.c.flight_id == bindparam("flight_id", type_=String),
    _CABINS.c.cabin == bindparam("cabin", type_=String),
)


async def seats_left(session: AsyncSession, flight_id: str, cabin: str) -> int:
    """Capacity minus sold of the cabin as stored now (0 when the cabin is gone)."""
    left = await session.scalar(_SEATS_LEFT, {"flight_id": flight_id, "cabin": cabin})
    return max(int(left or 0), 0)


async def refresh_cabins(session: AsyncSession, flight_id: str) -> None:
    """Reloads the flight's cabins into the session after bulk updates of their counters,
    when this session holds that flight as an object (nothing to refresh otherwise)."""
    if session.sync_session.identity_map.get(identity_key(Flight, flight_id)) is None:
        return
    await session.execute(
        select(FlightCabin)
        .where(FlightCabin.flight_id == flight_id)
        .execution_options(populate_existing=True)
    )


async def add_seat_assignments(
    session: AsyncSession, flight_id: str, cabin: str, booking_id: str, seats: list[str | None]
) -> str | None:
    """Assigns the chosen seats (passenger order; None: no seat) in one statement; the first
    seat another booking already holds (and nothing written) when the unique (flight_id, seat)
    key refuses one, else None."""
    rows: list[dict[str, Any]] = [
        {
            "id": new_id(),
            "flight_id": flight_id,
            "seat": seat,
            "cabin": cabin,
            "booking_id": booking_id,
            "passenger_index": index,
            "created_at": utcnow(),
        }
        for index, seat in enumerate(seats)
        if seat is not None
    ]
    if not rows:
        return None
    dialect = session.get_bind().dialect.name
    statement = (
        insert_skipping(dialect, _SEATS, "flight_id", "seat").values(rows).returning(_SEATS.c.seat)
    )
    assigned = set((await session.execute(statement)).scalars())
    refused: list[str] = [row["seat"] for row in rows if row["seat"] not in assigned]
    return refused[0] if refused else None


# --- one hold on one flight ----------------------------------------------------------------


@dataclass(frozen=True)
class SeatsTaken:
    """What `hold_seats` did on one flight."""

    flight: FlightForBooking | None  # None: no such flight (nothing written)
    taken: bool  # sold += quantity, within capacity
    held: bool  # the booking's hold row was written (False: it held that flight already)
    available: int  # seats the cabin had left when refused (0 when taken or not offered)


# PostgreSQL: the flight share-locked and read with its cabins, the seats taken and the hold
# row written, in one statement (one round trip instead of three). The flight's row is locked
# before the cabin's is updated (the UPDATE joins the locked row). Every part reads the same
# snapshot: `sold` in the answer is the cabin's count before this hold; the UPDATE itself waits
# for a concurrent hold of the cabin and re-checks capacity against the committed count.
def hold_ctes(*, as_read: bool = False) -> tuple[Any, Any, Any]:
    """The flight share-locked (`flight`), the seats taken (`taken`: its row when they were)
    and the hold row written (`held`), as CTEs. `as_read`: only while the flight's columns
    and the cabin's fare are still the bound `read_<column>` values (`hold_statement`)."""
    as_read_flight = [
        _FLIGHTS.c[name].is_not_distinct_from(
            bindparam(f"read_{name}", type_=_FLIGHTS.c[name].type)
        )
        for name in FLIGHT_COLUMNS[1:]
    ]
    as_read_fare = [
        _CABINS.c[name] == bindparam(f"read_{name}", type_=_CABINS.c[name].type)
        for name in ("fare_amount", "fare_currency")
    ]
    flight = (
        select(*(_FLIGHTS.c[name] for name in FLIGHT_COLUMNS))
        .where(
            _FLIGHTS.c.id == bindparam("flight", type_=String), *(as_read_flight if as_read else [])
        )
        .with_for_update(read=True)
        .cte("flight")
    )
    taken = (
        update(_CABINS)
        .where(
            _CABINS.c.flight_id == flight.c.id,
            _CABINS.c.cabin == bindparam("cabin_name", type_=String),
            _CABINS.c.sold + bindparam("quantity", type_=Integer) <= _CABINS.c.capacity,
            *(as_read_fare if as_read else []),
        )
        .values(sold=_CABINS.c.sold + bindparam("quantity", type_=Integer))
        .returning(_CABINS.c.flight_id, _CABINS.c.cabin)
        .cte("taken")
    )
    held = (
        postgresql.insert(_HOLDS)
        .from_select(
            ["id", "booking_id", "flight_id", "cabin", "quantity", "created_at"],
            select(
                bindparam("hold_id", type_=String),
                bindparam("holder", type_=String),
                taken.c.flight_id,
                taken.c.cabin,
                bindparam("quantity", type_=Integer),
                bindparam("held_at", type_=_HOLDS.c.created_at.type),
            ),
        )
        .on_conflict_do_nothing(index_elements=["booking_id", "flight_id"])
        .returning(_HOLDS.c.id)
        .cte("held")
    )
    return flight, taken, held


_FLIGHT, _TAKEN, _HELD = hold_ctes()
# Compiled once; in a hold of several flights it runs on the driver (platform/compiled_reads).
_HOLD_SEATS_POSTGRESQL = CompiledWrite(
    select(
        _FLIGHT,
        *(_CABINS.c[name] for name in _CABIN_COLUMNS),
        select(func.count()).select_from(_TAKEN).scalar_subquery().label("taken"),
        select(func.count()).select_from(_HELD).scalar_subquery().label("held"),
    )
    .select_from(_FLIGHT.outerjoin(_CABINS, _CABINS.c.flight_id == _FLIGHT.c.id))
    .order_by(_CABINS.c.cabin)
)


# SQLite: the seats taken (`_TAKE_SEATS`) and the hold row written, in one trip to its
# connection's thread (platform/compiled_reads.CompiledBatch): a cabin without the seats
# writes nothing; a booking that holds the flight already writes no hold row.
_TAKE_AND_HOLD_SQLITE = CompiledBatch(
    _TAKE_SEATS,
    sqlite.insert(_HOLDS)
    .values(
        id=bindparam("hold_id", type_=String),
        booking_id=bindparam("holder", type_=String),
        flight_id=bindparam("flight", type_=String),
        cabin=bindparam("cabin_name", type_=String),
        quantity=bindparam("quantity", type_=Integer),
        created_at=bindparam("held_at", type_=_HOLDS.c.created_at.type),
    )
    .on_conflict_do_nothing(index_elements=["booking_id", "flight_id"]),
    claims=True,
)


async def hold_seats(
    session: AsyncSession, flight_id: str, *, cabin: str, quantity: int, booking_id: str
) -> SeatsTaken:
    """Share-locks the flight and reads it (see `lock_flight_for_booking`), takes `quantity`
    seats of the cabin and records the booking's hold of them: one statement on PostgreSQL,
    three in two trips on SQLite. Writes whatever it can even on a flight the caller then
    refuses (not bookable): the caller's error rolls the transaction back."""
    if session.get_bind().dialect.name != "postgresql":
        return await _hold_seats_portable(session, flight_id, cabin, quantity, booking_id)
    parameters = {
        "flight": flight_id,
        "cabin_name": cabin,
        "quantity": quantity,
        "hold_id": new_id(),
        "holder": booking_id,
        "held_at": utcnow(),
    }
    rows = await _HOLD_SEATS_POSTGRESQL.named_rows(await session.connection(), parameters)
    if not rows:
        return SeatsTaken(None, taken=False, held=False, available=0)
    flight = flight_for_booking(rows)
    taken, held = bool(rows[0].taken), bool(rows[0].held)
    available = 0 if taken else _seats_left_in(flight, cabin)
    if not taken and available >= quantity:
        # Refused on a count committed after this statement's snapshot: read it again.
        available = await seats_left(session, flight_id, cabin)
    return SeatsTaken(flight, taken=taken, held=held, available=available)


async def _hold_seats_portable(
    session: AsyncSession, flight_id: str, cabin: str, quantity: int, booking_id: str
) -> SeatsTaken:
    flight = await lock_flight_for_booking(session, flight_id)
    if flight is None:
        return SeatsTaken(None, taken=False, held=False, available=0)
    seats = {"flight": flight_id, "cabin_name": cabin, "quantity": quantity}
    hold = seats | {"hold_id": new_id(), "holder": booking_id, "held_at": utcnow()}
    counts = await _TAKE_AND_HOLD_SQLITE.rowcounts(await session.connection(), [seats, hold])
    if counts[0] != 1:
        # SQLite's one writer: the counts just read are the current ones.
        return SeatsTaken(flight, taken=False, held=False, available=_seats_left_in(flight, cabin))
    return SeatsTaken(flight, taken=True, held=counts[1] == 1, available=0)


def _seats_left_in(flight: FlightForBooking, cabin: str) -> int:
    offered = next((c for c in flight.cabins if c.cabin == cabin), None)
    return 0 if offered is None else max(offered.capacity - offered.sold, 0)


_LOCK_FLIGHTS = (
    select(_FLIGHTS.c.id)
    .where(_FLIGHTS.c.id.in_(bindparam("flight_ids", expanding=True)))
    .order_by(_FLIGHTS.c.id)
    .with_for_update(read=True)
)


async def lock_flights(session: AsyncSession, flight_ids: list[str]) -> None:
    """Share-locks the flights' rows, in flight-id order, in one statement (PostgreSQL;
    SQLite's one writer needs no lock)."""
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(_LOCK_FLIGHTS, {"flight_ids": flight_ids})


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
