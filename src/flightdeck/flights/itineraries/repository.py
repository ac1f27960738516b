"""The SQL of itinerary search: Core statements that read only the columns a search shows.

Three statements, each built once per sort order, compiled once per dialect and then run on
the database driver (`platform/compiled_reads.CompiledRead`: SQLAlchemy's own execution of
them cost more CPU than the database's answer; nothing is turned into ORM objects, rows are
read by position). Each ranks and limits in SQL, then
adds every cabin of the few flights kept (the API shows them all) as one text per flight, so
a search is one round trip per kind of itinerary:

- `direct_flights`: the bookable flights of one route departing in a window, cheapest (or
  shortest, or earliest) first, on the index (origin, destination, departure_at): its cost
  follows the number of flights on that route that day.
- `connections`: two flights joined in SQL: the first from the origin departing in the
  window, the second from where the first lands to the destination, departing within the
  connection window after it lands (on the same route index), in the same fare currency,
  best first and limited in SQL: however many pairs a big network holds, only `limit` rows
  come back. Two legs of one multi-leg flight are not a connection (they are a through
  journey). What the database examines depends on the order. By departure, pairs come in
  the first leg's index order and SQLite sorts only the rest of the key, so it stops once
  the page is full (the work follows the page); PostgreSQL, at 100,000 flights, reads the
  first legs by a bitmap scan and sorts every pair. By price or duration every candidate pair
  is examined (each pair's fares and times decide; ranking per first leg would not read
  fewer): the work follows the pairs through every hub that day, which grows with the
  origin's departures (about 410 pairs per search on the bench's 100,000-flight network).
  Sorting them is not the cost; reading each second leg and its cabin is.
- `through_flights`: two consecutive legs of one multi-leg flight (same flight number and
  flight date, leg sequences n and n+1; on the unique key), the first from the origin in the
  window, the second to the destination: no minimum connection time between them.

A flight is bookable when it is not cancelled, departed, arrived or diverted, is a passenger
service (`SOLD_SERVICE_TYPES`), departs in the window (which starts after now), and its
searched cabin has `passengers` free seats. A journey is offered only where the flights' SSIM
traffic restrictions sell it (`inventory/traffic.py`, as bookings check it): a flight alone,
in a connection, or two legs flown through. Each
departure bound is one condition: SQLite, which plans without statistics, then picks the
route index for a route (a second lower bound made it fall back to the origin's index).

Rows come back as tuples (`LegRow`, `CabinRow`), and a flight's cabins text is parsed once
(cached by the text, which holds its seats sold): a page of connections repeats its flights.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache, lru_cache
from typing import Any, Literal, NamedTuple

from sqlalchemy import (
    ColumnElement,
    Integer,
    Select,
    String,
    Table,
    and_,
    bindparam,
    cast,
    func,
    literal_column,
    or_,
    select,
)
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from flightdeck.flights.inventory.traffic import ALONE_ONLY, CONNECTION_ONLY, NEVER_SOLD
from flightdeck.flights.models import SOLD_SERVICE_TYPES, Flight, FlightCabin
from flightdeck.platform.compiled_reads import CompiledRead
from flightdeck.platform.portable_sql import joined_text, plus_seconds, seconds_between

# Flights in these states take no bookings, so search never offers them.
UNSEARCHABLE_STATUSES = ("cancelled", "departed", "arrived", "diverted")
# Bound parameters per IN (...) list: far below SQLite's and asyncpg's limits.
_IN_CHUNK = 500

Order = Literal["price", "duration", "departure"]

_FLIGHTS: Table = Flight.__table__  # type: ignore[assignment]
_CABINS: Table = FlightCabin.__table__  # type: ignore[assignment]
_LEG_NAMES = (
    "id", "flight_number", "origin", "destination", "departure_at", "arrival_at",
    "service_date", "aircraft", "status", "schedule_id", "flight_date", "leg_sequence",
    "itinerary_variation", "service_type", "traffic_restrictions", "operating_carrier",
    "operating_flight",
)  # fmt: skip


class CabinRow(NamedTuple):
    cabin: str
    capacity: int
    sold: int
    fare_amount: int
    fare_currency: str


class LegRow(NamedTuple):
    """One flight as search reads it: what the searched cabin offers, and every cabin.

    Tuples, not dataclasses: a search builds one per leg of every row it keeps (100 for a
    page of connections), and a tuple is built in one step."""

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
    flight_date: date  # a multi-leg flight's legs share it (and the flight number)
    leg_sequence: int
    itinerary_variation: int | None
    service_type: str
    traffic_restrictions: str | None
    operating_carrier: str | None
    operating_flight: str | None
    fare_amount: int
    fare_currency: str
    seats_available: int
    cabins: tuple[CabinRow, ...]  # by cabin name


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


def _leg_columns(flight: Any, cabin: Any, prefix: str) -> list[ColumnElement[Any]]:
    """A leg's columns (LegRow's order, less its cabins), labelled `<prefix>_<name>`."""
    columns = [flight[name].label(f"{prefix}_{name}") for name in _LEG_NAMES]
    return [
        *columns,
        cabin.fare_amount.label(f"{prefix}_fare_amount"),
        cabin.fare_currency.label(f"{prefix}_fare_currency"),
        (cabin.capacity - cabin.sold).label(f"{prefix}_seats_available"),
    ]


_LEG_FIELDS = len(_LEG_NAMES) + 3


def _every_cabin(flight_id: ColumnElement[str]) -> ColumnElement[str]:
    """Every cabin of the flight as `cabin,capacity,sold,fare,currency;…` (cabin names and
    currency codes hold neither separator)."""
    c = _CABINS.c
    fields = [c.cabin, cast(c.capacity, String), cast(c.sold, String)]
    fields += [cast(c.fare_amount, String), c.fare_currency]
    text = fields[0]
    for field in fields[1:]:
        text = text + literal_column("','") + field
    return select(joined_text(text, ";")).where(c.flight_id == flight_id).scalar_subquery()


@lru_cache(maxsize=4096)
def _parse_cabins(text: str | None) -> tuple[CabinRow, ...]:
    """A flight's cabins from `_every_cabin`'s text, by cabin name. Cached by the text (it
    holds the seats sold, so a sale gives a new text): a flight shows up in many pairs of a
    page and in many searches."""
    if not text:
        return ()
    cabins = []
    for part in text.split(";"):
        cabin, capacity, sold, fare, currency = part.split(",")
        cabins.append(CabinRow(cabin, int(capacity), int(sold), int(fare), currency))
    return tuple(sorted(cabins))  # by cabin name: no two cabins of a flight share one


def _leg(row: Sequence[Any], start: int, cabins: str | None) -> LegRow:
    return LegRow._make((*row[start : start + _LEG_FIELDS], _parse_cabins(cabins)))


def _pairs(read: CompiledRead, rows: Iterable[Sequence[Any]]) -> list[tuple[LegRow, LegRow]]:
    """Two-leg rows of `read` as (first, second) legs."""
    first, second = read.position("first_id"), read.position("second_id")
    first_cabins, second_cabins = read.position("first_cabins"), read.position("second_cabins")
    return [
        (_leg(row, first, row[first_cabins]), _leg(row, second, row[second_cabins]))
        for row in rows
    ]


def _offers_seats(flight: Any, cabin: Any) -> ColumnElement[bool]:
    """The join of a flight to its searched cabin, when that cabin has the seats."""
    return and_(
        cabin.flight_id == flight.id,
        cabin.cabin == bindparam("cabin", type_=String),
        cabin.capacity - cabin.sold >= bindparam("passengers", type_=Integer),
    )


def _constants(values: Iterable[str]) -> list[ColumnElement[str]]:
    # Constants written into the statement: nothing to bind or expand on every execution.
    return [literal_column(f"'{value}'") for value in sorted(values)]


def _searchable(flight: Any) -> ColumnElement[bool]:
    status: ColumnElement[str] = flight.status
    service_type: ColumnElement[str] = flight.service_type
    return and_(
        status.not_in(_constants(UNSEARCHABLE_STATUSES)),
        service_type.in_(_constants(SOLD_SERVICE_TYPES)),
    )


def _sold(flight: Any, legs: int, refused: frozenset[str]) -> ColumnElement[bool]:
    """Whether the flight's traffic restriction code for a segment of `legs` legs starting
    with it (position `legs` of its codes; none: blank) is not one of `refused`."""
    code = func.coalesce(func.substr(flight.traffic_restrictions, legs, 1), "")
    return code.not_in(_constants(refused))


# Which codes refuse a segment (inventory/traffic.py): one flown alone, one of a connection.
_REFUSED_ALONE = NEVER_SOLD | CONNECTION_ONLY
_REFUSED_CONNECTING = NEVER_SOLD | ALONE_ONLY


def _sort_keys(
    order: Order,
    *,
    fare: ColumnElement[Any],
    duration: ColumnElement[Any],
    departure: ColumnElement[Any],
) -> list[ColumnElement[Any]]:
    """The order of `search.connections.sort_itineraries` (then flight ids), so the first
    `limit` rows here are the best ones there."""
    keys = {
        "price": (fare, duration, departure),
        "duration": (duration, fare, departure),
        "departure": (departure, duration, fare),
    }[order]
    return [key.label(f"sort_{i}") for i, key in enumerate(keys)]


def _best_with_cabins(ranked: Select[Any], legs: Sequence[str]) -> Select[Any]:
    """`ranked` (leg columns, sort keys, ordered and limited) as a subquery, each leg's
    cabins added to its few rows, in the same order."""
    best = ranked.subquery("best")
    columns = [column for column in best.c if not column.name.startswith("sort_")]
    cabins = [_every_cabin(best.c[f"{leg}_id"]).label(f"{leg}_cabins") for leg in legs]
    keys = [column for column in best.c if column.name.startswith("sort_")]
    leg_ids = [best.c[f"{leg}_id"] for leg in legs]
    return select(*columns, *cabins).order_by(*keys, *leg_ids)


@cache
def _direct_statement(order: Order) -> CompiledRead:
    flight, cabin = _FLIGHTS.c, _CABINS.c
    keys = _sort_keys(
        order,
        fare=cabin.fare_amount,
        duration=seconds_between(flight.departure_at, flight.arrival_at),
        departure=flight.departure_at,
    )
    ranked = (
        select(*_leg_columns(flight, cabin, "direct"), *keys)
        .select_from(_FLIGHTS.join(_CABINS, _offers_seats(flight, cabin)))
        .where(
            flight.origin == bindparam("origin", type_=String),
            flight.destination == bindparam("destination", type_=String),
            flight.departure_at >= bindparam("departing_from", type_=flight.departure_at.type),
            flight.departure_at < bindparam("departing_before", type_=flight.departure_at.type),
            _searchable(flight),
            _sold(flight, 1, _REFUSED_ALONE),
        )
        .order_by(*keys, flight.id)
        .limit(bindparam("limit", type_=Integer))
    )
    return CompiledRead(_best_with_cabins(ranked, ["direct"]))


@cache
def _connections_statement(order: Order) -> CompiledRead:
    shortest = bindparam("min_connection", type_=Integer)
    longest = bindparam("max_layover", type_=Integer)

    def second_leg(first: Any, second: Any) -> ColumnElement[bool]:
        return and_(
            second.origin == first.destination,
            second.destination == bindparam("destination", type_=String),
            # A range on the route index; the exact limits are checked on the layover below.
            second.departure_at >= plus_seconds(first.arrival_at, shortest),
            second.departure_at < plus_seconds(first.arrival_at, longest + 1),
        )

    def conditions(first: Any, second: Any) -> list[ColumnElement[bool]]:
        layover = seconds_between(first.arrival_at, second.departure_at)
        return [
            layover >= shortest,
            layover <= longest,
            # One flight's own legs are a through journey, not a connection.
            or_(
                second.flight_number != first.flight_number,
                second.flight_date != first.flight_date,
            ),
            _sold(first, 1, _REFUSED_CONNECTING),
            _sold(second, 1, _REFUSED_CONNECTING),
        ]

    return _two_leg_statement(order, second_leg, conditions)


@cache
def _through_statement(order: Order) -> CompiledRead:
    def next_leg(first: Any, second: Any) -> ColumnElement[bool]:
        return and_(
            second.flight_number == first.flight_number,
            second.flight_date == first.flight_date,
            second.leg_sequence == first.leg_sequence + 1,
            second.origin == first.destination,
            second.destination == bindparam("destination", type_=String),
        )

    def conditions(first: Any, second: Any) -> list[ColumnElement[bool]]:
        return [
            second.departure_at >= first.arrival_at,
            # The two legs are one segment: the code at position 2 of the first decides.
            _sold(first, 2, _REFUSED_ALONE),
        ]

    return _two_leg_statement(order, next_leg, conditions)


def _two_leg_statement(
    order: Order,
    join_second: Callable[[Any, Any], ColumnElement[bool]],
    conditions: Callable[[Any, Any], list[ColumnElement[bool]]],
) -> CompiledRead:
    """Two legs from the origin to the destination, the second joined by `join_second`,
    ranked and limited in SQL, with their cabins (connections and through flights)."""
    first_table, second_table = _FLIGHTS.alias("first_leg"), _FLIGHTS.alias("second_leg")
    first_cabins = _CABINS.alias("first_cabin")
    second_cabins = _CABINS.alias("second_cabin")
    first, second = first_table.c, second_table.c
    first_cabin, second_cabin = first_cabins.c, second_cabins.c
    keys = _sort_keys(
        order,
        fare=first_cabin.fare_amount + second_cabin.fare_amount,
        duration=seconds_between(first.departure_at, second.arrival_at),
        departure=first.departure_at,
    )
    ranked = (
        select(
            *_leg_columns(first, first_cabin, "first"),
            *_leg_columns(second, second_cabin, "second"),
            *keys,
        )
        .select_from(
            first_table.join(first_cabins, _offers_seats(first, first_cabin))
            .join(second_table, join_second(first, second))
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
            *conditions(first, second),
        )
        .order_by(*keys, first.id, second.id)
        .limit(bindparam("limit", type_=Integer))
    )
    return CompiledRead(_best_with_cabins(ranked, ["first", "second"]))


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
    read = _direct_statement(order)
    rows = await read.rows(conn, _parameters(window, limit))
    start, cabins = read.position("direct_id"), read.position("direct_cabins")
    return [_leg(row, start, row[cabins]) for row in rows]


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
    read = _connections_statement(order)
    return _pairs(read, await read.rows(conn, parameters))


async def through_flights(
    conn: AsyncConnection, window: SearchWindow, order: Order, *, limit: int
) -> list[tuple[LegRow, LegRow]]:
    """The best `limit` (leg, next leg) pairs of one multi-leg flight: the first from the
    origin in the window, the next (same flight number and date) to the destination, both
    bookable, the through journey sold by their traffic restrictions."""
    read = _through_statement(order)
    return _pairs(read, await read.rows(conn, _parameters(window, limit)))


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
