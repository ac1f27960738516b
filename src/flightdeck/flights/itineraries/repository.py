"""Itinerary search's reads: the statements of `statements.py` run on the database driver
(`platform/compiled_reads.CompiledRead`), their rows read by position as tuples (`LegRow`,
`CabinRow`). A page of connections repeats its flights: each is made into its row once per
read (`_leg_once`), and its cabins text is parsed once across searches (cached by the text,
which holds its seats sold).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Any, NamedTuple

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from flightdeck.flights.itineraries.statements import (
    CONNECTION,
    DIRECT,
    LEG_FIELDS,
    THROUGH,
    Order,
    candidates_statement,
    connections_statement,
    direct_statement,
)
from flightdeck.flights.models import Flight
from flightdeck.platform.compiled_reads import CompiledRead

__all__ = ["CabinRow", "Candidates", "ConnectionTimes", "LegRow", "Order", "SearchWindow"]

# Bound parameters per IN (...) list: far below SQLite's and asyncpg's limits.
_IN_CHUNK = 500


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
    # Per passenger, in the searched cabin: minor units and currency (no `Money` per flight: a
    # page reads a hundred), and its free seats.
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


@dataclass(frozen=True)
class ConnectionTimes:
    """How long a connection's layover may be: at least `min_domestic` at an airport of
    `home_country` (the country of both origin and destination; None when they are in two),
    at least `min_international` anywhere else, and at most `max_layover`."""

    home_country: str | None
    min_domestic: timedelta
    min_international: timedelta
    max_layover: timedelta

    @property
    def shortest(self) -> timedelta:
        """The least layover any connection of the search may have."""
        if self.home_country is None:
            return self.min_international
        return min(self.min_domestic, self.min_international)


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
    return LegRow._make((*row[start : start + LEG_FIELDS], _parse_cabins(cabins)))


def _leg_once(row: Sequence[Any], start: int, cabins: int, legs: dict[str, LegRow]) -> LegRow:
    """`_leg` of the flight at `start` (its cabins' text at `cabins`), made once per flight:
    `legs`, those made already by id (a page of pairs repeats its flights; every row of one
    read shows a flight as it was in one snapshot)."""
    found = legs.get(row[start])
    if found is None:
        found = legs[row[start]] = _leg(row, start, row[cabins])
    return found


def _pairs(
    read: CompiledRead, rows: Iterable[Sequence[Any]], legs: dict[str, LegRow]
) -> list[tuple[LegRow, LegRow]]:
    """Two-leg rows of `read` as (first, second) legs (`legs`: `_leg_once`'s, by id)."""
    first, second = read.position("first_id"), read.position("second_id")
    first_cabins, second_cabins = read.position("first_cabins"), read.position("second_cabins")
    return [
        (_leg_once(row, first, first_cabins, legs), _leg_once(row, second, second_cabins, legs))
        for row in rows
    ]


def _parameters(
    window: SearchWindow, limit: int, times: ConnectionTimes | None = None
) -> dict[str, Any]:
    """The statements' bound values; a connection's times in whole seconds."""
    parameters: dict[str, Any] = {
        "origin": window.origin,
        "destination": window.destination,
        "departing_from": window.departing_from,
        "departing_before": window.departing_before,
        "cabin": window.cabin,
        "passengers": window.passengers,
        "limit": limit,
    }
    if times is not None:
        parameters["home_country"] = times.home_country
        parameters["min_connection"] = int(times.shortest.total_seconds())
        parameters["min_domestic"] = int(times.min_domestic.total_seconds())
        parameters["min_international"] = int(times.min_international.total_seconds())
        parameters["max_layover"] = int(times.max_layover.total_seconds())
    return parameters


async def direct_flights(
    conn: AsyncConnection, window: SearchWindow, order: Order, *, limit: int
) -> list[LegRow]:
    """The best `limit` bookable flights from origin to destination in the window."""
    read = direct_statement(order)
    rows = await read.rows(conn, _parameters(window, limit))
    start, cabins = read.position("direct_id"), read.position("direct_cabins")
    return [_leg(row, start, row[cabins]) for row in rows]


async def connections(
    conn: AsyncConnection,
    window: SearchWindow,
    order: Order,
    *,
    times: ConnectionTimes,
    limit: int,
) -> list[tuple[LegRow, LegRow]]:
    """The best `limit` (first, second) pairs: the first from the origin in the window (not
    to the destination), the second from where it lands to the destination, departing within
    `times` after it lands, both bookable, fares in one currency. (Search reads them with the
    other kinds, in `candidates`; this statement alone is what tests/search measures.)"""
    parameters = _parameters(window, limit, times)
    read = connections_statement(order)
    return _pairs(read, await read.rows(conn, parameters), {})


@dataclass(frozen=True)
class Candidates:
    """What `candidates` read: each kind's best rows, in no particular order."""

    direct: list[LegRow]
    connections: list[tuple[LegRow, LegRow]]
    through: list[tuple[LegRow, LegRow]]


async def candidates(
    conn: AsyncConnection,
    window: SearchWindow,
    order: Order,
    *,
    times: ConnectionTimes,
    limit: int,
) -> Candidates:
    """A one-stop search's candidates in one statement: `direct_flights`, `connections`, and
    the best `limit` (leg, next leg) pairs of one multi-leg flight (the first from the origin
    in the window, the next, same flight number and date, to the destination, both bookable,
    the through journey sold by their traffic restrictions)."""
    parameters = _parameters(window, limit, times)
    read = candidates_statement(order)
    by_kind: dict[int, list[Sequence[Any]]] = {CONNECTION: [], THROUGH: [], DIRECT: []}
    for row in await read.rows(conn, parameters):
        by_kind[row[0]].append(row)
    first, first_cabins = read.position("first_id"), read.position("first_cabins")
    legs: dict[str, LegRow] = {}
    return Candidates(
        direct=[_leg_once(row, first, first_cabins, legs) for row in by_kind[DIRECT]],
        connections=_pairs(read, by_kind[CONNECTION], legs),
        through=_pairs(read, by_kind[THROUGH], legs),
    )


async def departures_of(
    session: AsyncSession, flight_ids: Sequence[str]
) -> set[tuple[str, str, datetime]]:
    """The (origin, destination, departure) of these flights (unknown ids are left out)."""
    found: set[tuple[str, str, datetime]] = set()
    ids = sorted(set(flight_ids))
    for start in range(0, len(ids), _IN_CHUNK):
        rows = await session.execute(
            select(Flight.origin, Flight.destination, Flight.departure_at).where(
                Flight.id.in_(ids[start : start + _IN_CHUNK])
            )
        )
        found.update((origin, destination, departure) for origin, destination, departure in rows)
    return found
