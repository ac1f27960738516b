"""The SQL of itinerary search: Core statements that read only the columns a search shows.

Three statements, each built once per sort order and then only executed (SQLAlchemy caches
their compiled form; nothing is turned into ORM objects):

- `direct_flights`: the bookable flights of one route departing in a window, cheapest (or
  shortest, or earliest) first, on the index (origin, destination, departure_at): its cost
  follows the number of flights on that route that day.
- `connections`: two flights joined in SQL: the first from the origin departing in the
  window, the second from where the first lands to the destination, departing within the
  connection window after it lands (on the same route index), in the same fare currency,
  best first and limited in SQL: however many pairs a big network holds, only `limit` rows
  come back.
- `cabins_of`: every cabin of the flights a search shows (the API shows them all).

A flight is bookable when it is not cancelled, departed, arrived or diverted, departs in the
window (which starts after now), and its searched cabin has `passengers` free seats. Each
departure bound is one condition: SQLite, which plans without statistics, then picks the
route index for a route (a second lower bound made it fall back to the origin's index).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache
from typing import Any, Literal

from sqlalchemy import (
    ColumnElement,
    Integer,
    Row,
    Select,
    String,
    Table,
    and_,
    bindparam,
    select,
)
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from flightdeck.flights.models import Flight, FlightCabin
from flightdeck.platform.sql_time import plus_seconds, seconds_between

# Flights in these states take no bookings, so search never offers them.
UNSEARCHABLE_STATUSES = ("cancelled", "departed", "arrived", "diverted")
# Bound parameters per IN (...) list: far below SQLite's and asyncpg's limits.
_IN_CHUNK = 500

Order = Literal["price", "duration", "departure"]


@dataclass(frozen=True)
class LegRow:
    """One flight as search reads it, with what the searched cabin offers."""

    id: str
    flight_number: str
    origin: str
    destination: str
    departure_at: datetime  # UTC
    arrival_at: datetime  # UTC
    service_date: date
    aircraft: str | None
    status: str
    schedule_id: str | None
    fare_amount: int
    fare_currency: str
    seats_available: int


@dataclass(frozen=True)
class CabinRow:
    flight_id: str
    cabin: str
    capacity: int
    sold: int
    fare_amount: int
    fare_currency: str


@dataclass(frozen=True)
class SearchWindow:
    """What every flight found must satisfy: the first flight from `origin` departs in
    [departing_from, departing_before); `passengers` free seats in `cabin`."""

    origin: str
    destination: str
    departing_from: datetime
    departing_before: datetime
    cabin: str
    passengers: int


_LEG_FIELDS = 13  # columns per leg in a result row, in LegRow's order


def _leg_columns(flight: Any, cabin: Any) -> list[ColumnElement[Any]]:
    return [
        flight.id,
        flight.flight_number,
        flight.origin,
        flight.destination,
        flight.departure_at,
        flight.arrival_at,
        flight.service_date,
        flight.aircraft,
        flight.status,
        flight.schedule_id,
        cabin.fare_amount,
        cabin.fare_currency,
        (cabin.capacity - cabin.sold).label(None),
    ]


def _leg(row: Row[Any], start: int) -> LegRow:
    return LegRow(*row[start : start + _LEG_FIELDS])


def _offers_seats(flight: Any, cabin: Any) -> ColumnElement[bool]:
    """The join of a flight to its searched cabin, when that cabin has the seats."""
    return and_(
        cabin.flight_id == flight.id,
        cabin.cabin == bindparam("cabin", type_=String),
        cabin.capacity - cabin.sold >= bindparam("passengers", type_=Integer),
    )


def _searchable(flight: Any) -> ColumnElement[bool]:
    status: ColumnElement[str] = flight.status
    return status.not_in(UNSEARCHABLE_STATUSES)


def _ordered(
    statement: Select[Any],
    order: Order,
    *,
    fare: ColumnElement[Any],
    duration: ColumnElement[Any],
    departure: ColumnElement[Any],
    ids: Sequence[ColumnElement[Any]],
) -> Select[Any]:
    """The order of `search.connections.sort_itineraries`, so the first `limit` rows here
    are the best ones there."""
    keys = {
        "price": (fare, duration, departure),
        "duration": (duration, fare, departure),
        "departure": (departure, duration, fare),
    }[order]
    return statement.order_by(*keys, *ids).limit(bindparam("limit", type_=Integer))


_FLIGHTS: Table = Flight.__table__  # type: ignore[assignment]
_CABINS_TABLE: Table = FlightCabin.__table__  # type: ignore[assignment]


@cache
def _direct_statement(order: Order) -> Select[Any]:
    flight, cabin = _FLIGHTS.c, _CABINS_TABLE.c
    statement = (
        select(*_leg_columns(flight, cabin))
        .select_from(_FLIGHTS.join(_CABINS_TABLE, _offers_seats(flight, cabin)))
        .where(
            flight.origin == bindparam("origin", type_=String),
            flight.destination == bindparam("destination", type_=String),
            flight.departure_at >= bindparam("departing_from", type_=flight.departure_at.type),
            flight.departure_at < bindparam("departing_before", type_=flight.departure_at.type),
            _searchable(flight),
        )
    )
    return _ordered(
        statement,
        order,
        fare=cabin.fare_amount,
        duration=seconds_between(flight.departure_at, flight.arrival_at),
        departure=flight.departure_at,
        ids=[flight.id],
    )


@cache
def _connections_statement(order: Order) -> Select[Any]:
    first_table, second_table = _FLIGHTS.alias("first_leg"), _FLIGHTS.alias("second_leg")
    first_cabins, second_cabins = (
        _CABINS_TABLE.alias("first_cabin"),
        _CABINS_TABLE.alias("second_cabin"),
    )
    first, second = first_table.c, second_table.c
    first_cabin, second_cabin = first_cabins.c, second_cabins.c
    shortest = bindparam("min_connection", type_=Integer)
    longest = bindparam("max_layover", type_=Integer)
    layover = seconds_between(first.arrival_at, second.departure_at)
    second_leg = and_(
        second.origin == first.destination,
        second.destination == bindparam("destination", type_=String),
        # A range on the route index; the exact limits are checked on `layover` below.
        second.departure_at >= plus_seconds(first.arrival_at, shortest),
        second.departure_at < plus_seconds(first.arrival_at, longest + 1),
    )
    statement = (
        select(*_leg_columns(first, first_cabin), *_leg_columns(second, second_cabin))
        .select_from(
            first_table.join(first_cabins, _offers_seats(first, first_cabin))
            .join(second_table, second_leg)
            .join(second_cabins, _offers_seats(second, second_cabin))
        )
        .where(
            first.origin == bindparam("origin", type_=String),
            first.destination != bindparam("destination", type_=String),
            first.departure_at >= bindparam("departing_from", type_=first.departure_at.type),
            first.departure_at < bindparam("departing_before", type_=first.departure_at.type),
            _searchable(first),
            _searchable(second),
            first_cabin.fare_currency == second_cabin.fare_currency,
            layover >= shortest,
            layover <= longest,
        )
    )
    return _ordered(
        statement,
        order,
        fare=first_cabin.fare_amount + second_cabin.fare_amount,
        duration=seconds_between(first.departure_at, second.arrival_at),
        departure=first.departure_at,
        ids=[first.id, second.id],
    )


def _parameters(window: SearchWindow, limit: int) -> dict[str, Any]:
    return {
        "origin": window.origin,
        "destination": window.destination,
        "departing_from": window.departing_from,
        "departing_before": window.departing_before,
        "cabin": window.cabin,
        "passengers": window.passengers,
        "limit": limit,
    }


async def direct_flights(
    conn: AsyncConnection, window: SearchWindow, order: Order, *, limit: int
) -> list[LegRow]:
    """The best `limit` bookable flights from origin to destination in the window."""
    result = await conn.execute(_direct_statement(order), _parameters(window, limit))
    return [_leg(row, 0) for row in result]


async def connections(
    conn: AsyncConnection,
    window: SearchWindow,
    order: Order,
    *,
    min_connection_seconds: int,
    max_layover_seconds: int,
    limit: int,
) -> list[tuple[LegRow, LegRow]]:
    """The best `limit` (first, second) pairs: the first from the origin in the window (not
    to the destination), the second from where it lands to the destination, departing
    between `min_connection_seconds` and `max_layover_seconds` after it lands, both
    bookable, fares in one currency."""
    parameters = _parameters(window, limit) | {
        "min_connection": min_connection_seconds,
        "max_layover": max_layover_seconds,
    }
    result = await conn.execute(_connections_statement(order), parameters)
    return [(_leg(row, 0), _leg(row, _LEG_FIELDS)) for row in result]


_CABINS = (
    select(
        FlightCabin.flight_id,
        FlightCabin.cabin,
        FlightCabin.capacity,
        FlightCabin.sold,
        FlightCabin.fare_amount,
        FlightCabin.fare_currency,
    )
    .where(FlightCabin.flight_id.in_(bindparam("flight_ids", expanding=True)))
    .order_by(FlightCabin.flight_id, FlightCabin.cabin)
)


async def cabins_of(conn: AsyncConnection, flight_ids: Sequence[str]) -> list[CabinRow]:
    """Every cabin of these flights, by flight and cabin name."""
    cabins: list[CabinRow] = []
    ids = sorted(set(flight_ids))
    for start in range(0, len(ids), _IN_CHUNK):
        result = await conn.execute(_CABINS, {"flight_ids": ids[start : start + _IN_CHUNK]})
        cabins.extend(CabinRow(*row) for row in result)
    return cabins


async def routes_of(session: AsyncSession, flight_ids: Sequence[str]) -> set[tuple[str, str]]:
    """The (origin, destination) of these flights (unknown ids are left out)."""
    routes: set[tuple[str, str]] = set()
    ids = sorted(set(flight_ids))
    for start in range(0, len(ids), _IN_CHUNK):
        rows = await session.execute(
            select(Flight.origin, Flight.destination).where(
                Flight.id.in_(ids[start : start + _IN_CHUNK])
            )
        )
        routes.update((origin, destination) for origin, destination in rows)
    return routes
