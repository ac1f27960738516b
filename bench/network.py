"""A seeded airline network written straight into the database, for the benches.

`build_network(url, flights=10_000, seed=7)` writes, in bulk (executemany on SQLite, COPY on
PostgreSQL, then ANALYZE there; never one API call per flight), `flights` dated flights over
the next `days` days between 20 hub airports (15 in the United States, 5 in Europe: domestic
and international connections), each with an economy and a business cabin partly sold; and
the same flight numbers over the previous `history_days` days, flown, with their status
history (departed, then arrived with a delay), which is what punctuality is computed from.
The same seed gives the same network, so runs are comparable. It returns a `Network` that
knows, without asking the server, which searches have an answer (a direct flight, or a
connection the rules allow), so a bench can refuse a search that comes back empty.

Rows go into the tables of `flightdeck.flights.models` (their columns, in the form SQLAlchemy
stores them) after `flightdeck migrate`, so they read back as if the API had written them.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import random
import sqlite3
import uuid
from bisect import bisect_left
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from typing import Any

import asyncpg

from flightdeck.flights.airports import get_airport, great_circle_km, local_to_utc
from flightdeck.flights.models import Flight, FlightCabin, FlightStatusChange

HUBS = (
    "JFK", "LAX", "ORD", "ATL", "DFW", "DEN", "SFO", "SEA", "MIA", "BOS",
    "LAS", "PHX", "IAH", "MSP", "DTW",
    "LHR", "CDG", "FRA", "AMS", "MAD",
)  # fmt: skip
ECONOMY_SEATS = 150
BUSINESS_SEATS = 24
MIN_DOMESTIC = timedelta(minutes=45)  # the defaults of the connection rules
MIN_INTERNATIONAL = timedelta(minutes=90)
MAX_LAYOVER = timedelta(hours=8)


@dataclass(frozen=True)
class Leg:
    """One future flight as the bench knows it: enough to tell which searches have answers."""

    origin: str
    destination: str
    day: date  # local date at the origin
    departure_at: datetime  # UTC
    arrival_at: datetime  # UTC


@dataclass
class Network:
    flights: int
    history_flights: int
    first_day: date
    days: int
    legs: list[Leg] = field(default_factory=list)

    def direct_days(self) -> list[tuple[str, str, date]]:
        """Every (origin, destination, local date) with at least one direct flight."""
        return sorted({(leg.origin, leg.destination, leg.day) for leg in self.legs})

    def connection_days(self, wanted: int, seed: int) -> list[tuple[str, str, date]]:
        """Up to `wanted` (origin, destination, local date) with at least one one-stop
        connection the default rules allow (minimum connection by countries, at most 8 h)."""
        by_origin: dict[str, list[Leg]] = defaultdict(list)
        for leg in self.legs:
            by_origin[leg.origin].append(leg)
        for legs in by_origin.values():
            legs.sort(key=lambda leg: leg.departure_at)
        firsts = list(self.legs)
        random.Random(seed).shuffle(firsts)  # noqa: S311 - a reproducible sample
        found: set[tuple[str, str, date]] = set()
        for first in firsts:
            candidates = by_origin[first.destination]
            start = bisect_left(
                candidates, first.arrival_at + MIN_DOMESTIC, key=lambda leg: leg.departure_at
            )
            for second in candidates[start:]:
                layover = second.departure_at - first.arrival_at
                if layover > MAX_LAYOVER:
                    break
                if second.destination != first.origin and layover >= _minimum_connection(
                    first, second
                ):
                    found.add((first.origin, second.destination, first.day))
            if len(found) >= wanted:
                break
        return sorted(found)


def _minimum_connection(first: Leg, second: Leg) -> timedelta:
    countries = {_country(first.origin), _country(first.destination)}
    countries.add(_country(second.destination))
    return MIN_DOMESTIC if len(countries) == 1 else MIN_INTERNATIONAL


@cache
def _country(code: str) -> str:
    return get_airport(code).country


def _distance_km(origin: str, destination: str) -> float:
    a, b = get_airport(origin), get_airport(destination)
    lat1, lat2 = math.radians(a.latitude), math.radians(b.latitude)
    dlat, dlon = lat2 - lat1, math.radians(b.longitude - a.longitude)
    h = math.sin(dlat / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin(dlon / 2) ** 2
    return 2 * 6371 * math.asin(math.sqrt(h))


@cache
def _route_km(origin: str, destination: str) -> int:
    return great_circle_km(origin, destination)


@dataclass(frozen=True)
class FlightNumber:
    number: str
    origin: str
    destination: str
    departure_local: time
    block: timedelta
    fare: int  # economy, cents; business is 4x


def _flight_numbers(count: int, rng: random.Random) -> list[FlightNumber]:
    routes = [(o, d) for o in HUBS for d in HUBS if o != d]
    numbers = []
    for i in range(count):
        origin, destination = rng.choice(routes)
        km = _distance_km(origin, destination)
        carrier, serial = divmod(i, 9000)
        numbers.append(
            FlightNumber(
                number=f"{'FXYZWQ'[carrier % 6]}D{1000 + serial}",
                origin=origin,
                destination=destination,
                departure_local=time(rng.randrange(5, 23), rng.randrange(0, 60, 5)),
                block=timedelta(minutes=round(km / 800 * 60 + 30)),
                fare=int(5000 + km * 8) // 100 * 100,
            )
        )
    return numbers


def _flight_row(
    fn: FlightNumber, day: date, now: datetime, *, flown: bool, delay: int
) -> dict[str, Any]:
    departure = local_to_utc(day, fn.departure_local, fn.origin)
    arrival = departure + fn.block
    row: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "flight_number": fn.number,
        "service_date": day,
        "flight_date": day,  # single-leg flights: the flight's date is its service date
        "origin": fn.origin,
        "destination": fn.destination,
        "destination_country": _country(fn.destination),
        "departure_at": departure,
        "arrival_at": arrival,
        "aircraft": "A321",
        "distance_km": _route_km(fn.origin, fn.destination),
        "schedule_id": None,
        "status": "scheduled",
        "estimated_departure_at": None,
        "actual_departure_at": None,
        "estimated_arrival_at": None,
        "actual_arrival_at": None,
        "delay_minutes": 0,
        "departure_delay_minutes": None,
        "arrival_delay_minutes": None,
        "gate": None,
        "terminal": None,
        "diverted_to": None,
        "status_updated_at": None,
        "created_at": now,
        "updated_at": now,
    }
    if flown:
        row |= {
            "status": "arrived",
            "actual_departure_at": departure + timedelta(minutes=delay),
            "actual_arrival_at": arrival + timedelta(minutes=delay),
            "delay_minutes": delay,
            "departure_delay_minutes": delay,
            "arrival_delay_minutes": delay,
            "status_updated_at": arrival + timedelta(minutes=delay),
        }
    return row


def _cabin_rows(flight: dict[str, Any], fare: int, rng: random.Random) -> list[dict[str, Any]]:
    return [
        {
            "id": str(uuid.uuid4()),
            "flight_id": flight["id"],
            "cabin": cabin,
            "capacity": seats,
            # Never so full that two passengers find no seat: every search has its answer.
            "sold": rng.randrange(0, seats - 8),
            "fare_amount": cabin_fare,
            "fare_currency": "USD",
        }
        for cabin, seats, cabin_fare in (
            ("business", BUSINESS_SEATS, fare * 4),
            ("economy", ECONOMY_SEATS, fare),
        )
    ]


def _history_rows(flight: dict[str, Any]) -> list[dict[str, Any]]:
    base = {
        "flight_id": flight["id"],
        "estimated_departure_at": None,
        "estimated_arrival_at": None,
        "delay_minutes": flight["delay_minutes"],
        "gate": None,
        "terminal": None,
        "remark": None,
        "source": "bench",
        "changed_by": None,
    }
    departed = base | {
        "id": str(uuid.uuid4()),
        "from_status": "scheduled",
        "status": "departed",
        "actual_departure_at": flight["actual_departure_at"],
        "actual_arrival_at": None,
        "changed_at": flight["actual_departure_at"],
    }
    arrived = base | {
        "id": str(uuid.uuid4()),
        "from_status": "departed",
        "status": "arrived",
        "actual_departure_at": flight["actual_departure_at"],
        "actual_arrival_at": flight["actual_arrival_at"],
        "changed_at": flight["actual_arrival_at"],
    }
    return [departed, arrived]


def _delay(rng: random.Random) -> int:
    """Minutes late: most flights on time, a long tail of late ones."""
    roll = rng.random()
    if roll < 0.7:
        return rng.randrange(0, 10)
    if roll < 0.9:
        return rng.randrange(10, 45)
    return rng.randrange(45, 240)


def _columns(table: Any) -> list[str]:
    return [column.name for column in table.columns]


def _complete(table: Any, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows with every column of `table`: one this file does not write (added by a later
    migration) gets its model's scalar default, or NULL; SystemExit when it has neither."""
    missing = [column for column in table.columns if rows and column.name not in rows[0]]
    fill: dict[str, Any] = {}
    for column in missing:
        if column.default is not None and column.default.is_scalar:
            fill[column.name] = column.default.arg
        elif column.nullable:
            fill[column.name] = None
        else:
            raise SystemExit(f"bench/network.py writes no {table.name}.{column.name}: add it")
    return [row | fill for row in rows] if fill else rows


def _sqlite_value(value: Any) -> Any:
    """What SQLAlchemy stores in SQLite: naive UTC instants and ISO dates as text."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")
    if isinstance(value, date):
        return value.isoformat()
    return value


def _write_sqlite(url: str, tables: list[tuple[Any, list[dict[str, Any]]]]) -> None:
    path = url.split(":///", 1)[1]
    with contextlib.closing(sqlite3.connect(path)) as db, db:
        # Random (uuid) keys: keep the indexes' pages in memory while they fill.
        db.execute("PRAGMA cache_size = -500000")
        for table, rows in tables:
            names = _columns(table)
            statement = (
                f"INSERT INTO {table.name} ({', '.join(names)}) "  # noqa: S608 - our own tables
                f"VALUES ({', '.join('?' for _ in names)})"
            )
            db.executemany(statement, ([_sqlite_value(r[n]) for n in names] for r in rows))


async def _write_postgres(url: str, tables: list[tuple[Any, list[dict[str, Any]]]]) -> None:
    connection = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        async with connection.transaction():
            for table, rows in tables:
                names = _columns(table)
                await connection.copy_records_to_table(
                    table.name, records=[[r[n] for n in names] for r in rows], columns=names
                )
        # What follows a bulk load, and what autovacuum did a minute or two later, in the
        # middle of a bench's first phases: until then the planner guessed a handful of rows
        # per table (the first cold phase at 100,000 flights, direct searches: 599 -> 874 req/s).
        await connection.execute(f"ANALYZE {', '.join(table.name for table, _ in tables)}")
    finally:
        await connection.close()


def _batches(
    numbers: list[FlightNumber], days: list[date], flights: int
) -> Iterator[tuple[FlightNumber, date]]:
    made = 0
    for day in days:
        for fn in numbers:
            if made == flights:
                return
            made += 1
            yield fn, day


async def _write(url: str, *, flights: int, days: int, history_days: int, seed: int) -> Network:
    rng = random.Random(seed)  # noqa: S311 - a reproducible data set, not a secret
    numbers = _flight_numbers(math.ceil(flights / days), rng)
    today = datetime.now(UTC).date()
    now = datetime.now(UTC)
    future = [today + timedelta(days=1 + i) for i in range(days)]
    past = [today - timedelta(days=1 + i) for i in range(history_days)]
    network = Network(flights=0, history_flights=0, first_day=future[0], days=days)
    flight_rows: list[dict[str, Any]] = []
    cabin_rows: list[dict[str, Any]] = []
    history_rows: list[dict[str, Any]] = []
    for fn, day in _batches(numbers, future, flights):
        row = _flight_row(fn, day, now, flown=False, delay=0)
        flight_rows.append(row)
        cabin_rows.extend(_cabin_rows(row, fn.fare, rng))
        network.legs.append(
            Leg(fn.origin, fn.destination, day, row["departure_at"], row["arrival_at"])
        )
    for fn, day in _batches(numbers, past, len(numbers) * history_days):
        row = _flight_row(fn, day, now, flown=True, delay=_delay(rng))
        flight_rows.append(row)
        cabin_rows.extend(_cabin_rows(row, fn.fare, rng))
        history_rows.extend(_history_rows(row))
    network.flights = len(network.legs)
    network.history_flights = len(flight_rows) - network.flights
    tables = [
        (table, _complete(table, rows))
        for table, rows in (
            (Flight.__table__, flight_rows),
            (FlightCabin.__table__, cabin_rows),
            (FlightStatusChange.__table__, history_rows),
        )
    ]
    if url.startswith("sqlite"):
        _write_sqlite(url, tables)
    else:
        await _write_postgres(url, tables)
    return network


def build_network(
    database_url: str,
    *,
    flights: int = 10_000,
    days: int = 30,
    history_days: int = 30,
    seed: int = 7,
) -> Network:
    """Writes the network into the migrated database at `database_url`; what it wrote."""
    return asyncio.run(
        _write(database_url, flights=flights, days=days, history_days=history_days, seed=seed)
    )
