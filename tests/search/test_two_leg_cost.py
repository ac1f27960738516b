"""What a two-leg search costs, counted in SQLite virtual-machine steps (the same count for
the same data on any machine, however loaded: not a timing).

- Ranked by departure, the pairs come in the first leg's index order and only the right
  part of the order is sorted, so SQLite stops once the page is full: the work follows the
  page, not the number of departures from the origin.
- Ranked by price, every pair is examined (each pair's fares decide), so the same count
  grows with the departures: the counter sees the airport's size where it must.
- A flight's cabins, read in many pairs and many searches, are parsed once.

On a SQLite database of its own (the app's tables and the indexes its models declare, as
the migrations create them; no server): the repository is what is measured.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from sqlalchemy import delete, insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

import flightdeck.modules  # noqa: F401 - every domain's tables in Base.metadata
from flightdeck.flights.itineraries import repository
from flightdeck.flights.itineraries.repository import (
    ConnectionTimes,
    LegRow,
    Order,
    SearchWindow,
)
from flightdeck.flights.models import Flight, FlightCabin
from flightdeck.platform.db import Base

pytestmark = pytest.mark.asyncio(loop_scope="session")

DAY = date(2026, 3, 10)
START = datetime(2026, 3, 10, 6, 0, tzinfo=UTC)
WINDOW = SearchWindow("JFK", "SFO", START, START + timedelta(days=1), "economy", 1)
PAGE = 2
TIMES = ConnectionTimes("US", timedelta(minutes=45), timedelta(minutes=90), timedelta(hours=8))


@pytest_asyncio.fixture(loop_scope="session")
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine(f"sqlite+aiosqlite:///{tmp_path / 'cost.db'}")
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)
    yield engine
    await engine.dispose()


def _flight(number: str, origin: str, destination: str, departure: datetime) -> dict[str, Any]:
    created = datetime(2026, 1, 1, tzinfo=UTC)
    return {
        "id": f"{number}-{departure:%H%M}",
        "flight_number": number,
        "service_date": DAY,
        "flight_date": DAY,
        "leg_sequence": 1,
        "service_type": "J",
        "origin": origin,
        "destination": destination,
        "destination_country": "US",
        "departure_at": departure,
        "arrival_at": departure + timedelta(hours=2),
        "status": "scheduled",
        "delay_minutes": 0,
        "distance_km": 0,
        "created_at": created,
        "updated_at": created,
    }


def _cabins(flight_id: str) -> list[dict[str, Any]]:
    return [
        {
            "id": f"{flight_id}-{cabin}",
            "flight_id": flight_id,
            "cabin": cabin,
            "capacity": capacity,
            "sold": 0,
            "fare_amount": fare,
            "fare_currency": "USD",
        }
        for cabin, capacity, fare in (("economy", 150, 10_000), ("business", 24, 40_000))
    ]


async def _hub_day(engine: AsyncEngine, departures: int) -> None:
    """Only these flights: `departures` flights JFK → ORD, 20 minutes apart, each with two
    onward flights ORD → SFO (2 and 3 hours after it lands), 150 free economy seats each."""
    flights = []
    for i in range(departures):
        first = _flight(f"FD{i}", "JFK", "ORD", START + timedelta(minutes=20 * i))
        flights.append(first)
        for hours in (2, 3):
            onward = first["arrival_at"] + timedelta(hours=hours)
            flights.append(_flight(f"FD{100 + 2 * i + hours}", "ORD", "SFO", onward))
    async with engine.begin() as conn:
        await conn.execute(delete(FlightCabin))
        await conn.execute(delete(Flight))
        await conn.execute(insert(Flight), flights)
        cabins = [cabin for flight in flights for cabin in _cabins(flight["id"])]
        await conn.execute(insert(FlightCabin), cabins)


async def _page(conn: AsyncConnection, order: Order) -> list[tuple[LegRow, LegRow]]:
    """One page of connections JFK → SFO (45 minutes to 8 hours between flights)."""
    return await repository.connections(conn, WINDOW, order, times=TIMES, limit=PAGE)


async def _steps(conn: AsyncConnection, order: Order) -> int:
    """SQLite VM steps (in units of 100) the connections statement takes for one page."""
    steps = 0

    def count() -> int:
        nonlocal steps
        steps += 1
        return 0  # go on

    driver = (await conn.get_raw_connection()).driver_connection
    assert driver is not None
    await driver.set_progress_handler(count, 100)
    try:
        pairs = await _page(conn, order)
    finally:
        await driver.set_progress_handler(None, 100)
    assert len(pairs) == PAGE
    return steps


async def _steps_by_departures(engine: AsyncEngine, order: Order) -> dict[int, int]:
    counts = {}
    for departures in (24, 96):
        await _hub_day(engine, departures)
        async with engine.connect() as conn:
            counts[departures] = await _steps(conn, order)
    return counts


async def test_departure_ordered_pairs_cost_follows_the_page(engine: AsyncEngine) -> None:
    counts = await _steps_by_departures(engine, "departure")

    # Four times the departures, the same page: the same work, give or take the last group.
    assert counts[96] <= counts[24] * 1.1, counts


async def test_price_ordered_pairs_examine_every_departure(engine: AsyncEngine) -> None:
    counts = await _steps_by_departures(engine, "price")

    assert counts[96] >= counts[24] * 3, counts


async def test_a_flights_cabins_are_parsed_once_for_its_pairs_and_later_searches(
    engine: AsyncEngine,
) -> None:
    await _hub_day(engine, 1)
    async with engine.connect() as conn:
        pages = [await _page(conn, "price") for _ in range(2)]

    (first_a, second_a), (first_b, second_b) = pages[0]
    assert second_a.id != second_b.id
    assert first_b == first_a
    assert first_b.cabins is first_a.cabins  # parsed once for the flight in both pairs
    assert [c.cabin for c in first_a.cabins] == ["business", "economy"]
    # The next search parses the same cabins text no more.
    assert pages[1][0][0].cabins is first_a.cabins
