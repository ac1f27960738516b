"""A hold of one flight written in one statement with the caller's rows (PostgreSQL), on
condition that the flight is still as it was read.

A hold in a transaction is four round trips for a booking of one flight: BEGIN, the hold's
statement (`repository.hold_seats`), the booking's, COMMIT; each costs the server ~70-90 µs
of CPU on asyncpg (docs/ARCHITECTURE.md, "The cost of a request"). Here it is one, in
autocommit (`platform.db.STATEMENT_WRITES`), once this process has read the flight:

1. `read_flight`: the flight and its cabins as this process last read them for a hold (by
   either way), else read now without a lock. The caller checks it as `hold_inventory`
   checks a locked one and builds its rows from it (a booking's segment, its price).
2. `hold_statement`: one statement share-locks the flight only if every column read is
   still what was read (compared with IS NOT DISTINCT FROM), takes the seats if the cabin
   still has them at the fare read, writes the hold row, and the caller's rows, each selected
   from the seats taken (`writes(taken)`): nothing is written unless the seats were taken,
   and a statement is atomic (a unique key one of the caller's rows meets aborts all of it).

Its answer (`HoldAtOnce`): whether the flight and fare were as read, whether the seats were
taken, and the seats the cabin had left in the statement's snapshot. A flight changed since
it was read (a status, a time, a fare) writes nothing: the caller holds it the transactional
way, which reads it under its lock. The locking is a hold's: the flight's row is share-locked
before the cabin's is updated; a concurrent change of the flight waits for the statement or is
seen by it (PostgreSQL re-reads a row it waited for and re-checks the conditions).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, String, Table, bindparam, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from flightdeck.flights.inventory.repository import (
    FLIGHT_COLUMNS,
    FLIGHT_WITH_CABINS,
    FlightForBooking,
    flight_for_booking,
    hold_ctes,
)
from flightdeck.flights.models import FlightCabin
from flightdeck.platform.clock import utcnow
from flightdeck.platform.compiled_reads import CompiledRead
from flightdeck.platform.db import new_id

_CABINS: Table = FlightCabin.__table__  # type: ignore[assignment]
_READ_FLIGHT = CompiledRead(FLIGHT_WITH_CABINS)
# The cabin as the statement's snapshot has it (before this hold).
_THE_CABIN = (
    _CABINS.c.flight_id == bindparam("flight", type_=String),
    _CABINS.c.cabin == bindparam("cabin_name", type_=String),
)


# Flights as this process last read them, most recently used last: the statement checks
# that a flight is still as read, so one read serves every hold until the flight changes.
_READ: OrderedDict[str, FlightForBooking] = OrderedDict()
READ_FLIGHTS_KEPT = 4096


async def read_flight(
    conn: AsyncConnection, flight_id: str, *, again: bool = False
) -> tuple[FlightForBooking | None, bool]:
    """The flight and its cabins as this process last read them, or (`again`, or never read)
    as stored now, read without a lock; and whether it was read now. None: no such flight.
    Its `sold` counts are not kept up to date: a hold reads none of them (the statement
    checks the seats left)."""
    flight = None if again else _READ.get(flight_id)
    if flight is not None:
        _READ.move_to_end(flight_id)
        return flight, False
    rows = await _READ_FLIGHT.named_rows(conn, {"flight_id": flight_id})
    if not rows:
        _READ.pop(flight_id, None)
        return None, True
    flight = flight_for_booking(rows)
    remember_flight(flight)
    return flight, True


def remember_flight(flight: FlightForBooking) -> None:
    """Keeps the flight as read (by any hold) for the next hold in one statement."""
    _READ[flight.id] = flight
    _READ.move_to_end(flight.id)
    if len(_READ) > READ_FLIGHTS_KEPT:
        _READ.popitem(last=False)


def forget_flight(flight_id: str) -> None:
    """Drops the flight as read (it changed since): the next hold reads it again."""
    _READ.pop(flight_id, None)


def hold_statement(writes: Callable[[Any], Sequence[Any]]) -> Select[Any]:
    """The hold's CTEs as read (`repository.hold_ctes`) and the caller's (`writes(taken)`:
    CTEs that each select from `taken`, one row when the seats were taken, or from one that
    does), answering `flight_as_read`, `taken`, and the cabin's `available`, `fare_amount`
    and `fare_currency` before this hold."""
    flight, taken, held = hold_ctes(as_read=True)

    def cabin(column: Any) -> Any:
        return select(column).where(*_THE_CABIN).scalar_subquery()

    return select(
        select(func.count()).select_from(flight).scalar_subquery().label("flight_as_read"),
        select(func.count()).select_from(taken).scalar_subquery().label("taken"),
        cabin(_CABINS.c.capacity - _CABINS.c.sold).label("available"),
        cabin(_CABINS.c.fare_amount).label("fare_amount"),
        cabin(_CABINS.c.fare_currency).label("fare_currency"),
    ).add_cte(held, *writes(taken))


def hold_parameters(
    flight: FlightForBooking, *, cabin: str, quantity: int, booking_id: str
) -> dict[str, Any]:
    """`hold_statement`'s own bound values: the hold, and the flight and fare as read."""
    fare = next(c for c in flight.cabins if c.cabin == cabin)
    parameters = {
        "flight": flight.id,
        "cabin_name": cabin,
        "quantity": quantity,
        "hold_id": new_id(),
        "holder": booking_id,
        "held_at": utcnow(),
        "read_fare_amount": fare.fare_amount,
        "read_fare_currency": fare.fare_currency,
    }
    parameters.update((f"read_{name}", getattr(flight, name)) for name in FLIGHT_COLUMNS[1:])
    return parameters


@dataclass(frozen=True)
class HoldAtOnce:
    """What `hold_statement` did."""

    as_read: bool  # the flight and the cabin's fare were as read
    taken: bool  # the seats were taken: the hold and the caller's rows are written
    available: int  # seats the cabin had left before this hold (0: no such cabin)


def hold_at_once(row: Any, flight: FlightForBooking, cabin: str) -> HoldAtOnce:
    """`hold_statement`'s answer for the flight read."""
    fare = next(c for c in flight.cabins if c.cabin == cabin)
    as_read = bool(row.flight_as_read) and (row.fare_amount, row.fare_currency) == (
        fare.fare_amount,
        fare.fare_currency,
    )
    return HoldAtOnce(as_read, bool(row.taken), max(int(row.available or 0), 0))
