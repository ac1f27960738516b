"""How search reads: nothing from the database on a cached answer, the flights of an answer
as the API shows them, and connections ranked in SQL by the full connection rules."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncConnection

from flightdeck.flights.itineraries import repository, statements
from flightdeck.flights.itineraries.repository import ConnectionTimes, SearchWindow
from flightdeck.platform.db import read_connection
from flightdeck.search import service
from flightdeck.search.connections import ConnectionRules
from tests.conftest import TestUser as AppUser
from tests.search.factories import add_flight, add_flight_rows, routes, search
from tests.search.statements import captured_selects

pytestmark = pytest.mark.asyncio(loop_scope="session")

DAY = "2026-02-10"
QUERY = {"origin": "JFK", "destination": "SFO", "date": DAY}
TIMES = ConnectionTimes("US", timedelta(minutes=45), timedelta(minutes=90), timedelta(hours=8))


async def _network(client: httpx.AsyncClient, agent: AppUser) -> None:
    """A direct JFK → SFO flight and a connection through ORD."""
    h = agent.headers
    await add_flight(
        client, h, "FD1", "JFK", "SFO", f"{DAY}T09:00:00-05:00", f"{DAY}T12:30:00-08:00"
    )
    await add_flight(
        client, h, "FD10", "JFK", "ORD", f"{DAY}T07:00:00-05:00", f"{DAY}T08:45:00-06:00"
    )
    await add_flight(
        client, h, "FD20", "ORD", "SFO", f"{DAY}T10:00:00-06:00", f"{DAY}T12:40:00-08:00"
    )


async def test_a_cached_answer_opens_no_database_connection(
    app: Any, client: httpx.AsyncClient, agent: AppUser, monkeypatch: pytest.MonkeyPatch
) -> None:
    await _network(client, agent)
    opened: list[str] = []
    reads = app.state.reads
    real_connect = reads.connect

    @contextlib.asynccontextmanager
    async def counting(**options: Any) -> AsyncIterator[AsyncConnection]:
        opened.append("connection")
        async with real_connect(**options) as conn:
            yield conn

    # Every connection search reads on (pooled, or one of those it keeps on PostgreSQL).
    monkeypatch.setattr(reads, "connect", counting)

    first = await search(client, **QUERY)
    second = await search(client, **QUERY)

    assert second == first
    assert opened == ["connection"]  # the first search only


async def test_each_segment_is_the_flight_as_get_flight_shows_it(
    client: httpx.AsyncClient, agent: AppUser
) -> None:
    await _network(client, agent)

    body = await search(client, **QUERY, passengers=2)

    segments = [s for i in body["itineraries"] for s in i["segments"]]
    assert len(segments) == 3
    for segment in segments:
        assert segment.pop("punctuality")["window_days"] == 30
        flight = await client.get(f"/flights/{segment['id']}")
        assert flight.status_code == 200, flight.text
        assert segment == flight.json()


async def test_a_connection_too_short_abroad_does_not_crowd_out_a_valid_one(
    app: Any, client: httpx.AsyncClient, agent: AppUser, monkeypatch: pytest.MonkeyPatch
) -> None:
    h = agent.headers
    # The cheapest pair changes planes in Toronto after 60 minutes: enough at home, too short
    # abroad (the international minimum is 90); the database ranks it first all the same.
    await add_flight(
        client, h, "FD1", "JFK", "YYZ", f"{DAY}T07:00:00-05:00", f"{DAY}T08:30:00-05:00",
        fare=50_00,
    )  # fmt: skip
    await add_flight(
        client, h, "AC9", "YYZ", "BOS", f"{DAY}T09:30:00-05:00", f"{DAY}T11:00:00-05:00",
        fare=50_00,
    )  # fmt: skip
    await add_flight(
        client, h, "FD2", "JFK", "ORD", f"{DAY}T07:00:00-05:00", f"{DAY}T08:45:00-06:00"
    )
    await add_flight(
        client, h, "FD3", "ORD", "BOS", f"{DAY}T10:00:00-06:00", f"{DAY}T13:00:00-05:00"
    )
    monkeypatch.setattr(service, "MAX_ITINERARIES", 1)

    with captured_selects(app) as selects:
        body: dict[str, Any] = await search(client, origin="JFK", destination="BOS", date=DAY)

    assert routes(body) == [["FD2", "FD3"]]
    # The database applied the rules itself: one read of the pairs, not a second, larger one
    # after the first's best pair was refused.
    assert len([sql for sql, _ in selects if "second_leg" in sql]) == 1


async def test_the_pairs_sql_ranks_are_the_pairs_the_rules_allow(
    client: httpx.AsyncClient, agent: AppUser
) -> None:
    """Connections at home, abroad and between countries, each just under and at its
    minimum (the default rules): the search offers exactly the pairs the rules allow."""
    rules = ConnectionRules()
    assert (rules.min_domestic, rules.min_international) == (
        timedelta(minutes=45),
        timedelta(minutes=90),
    )
    h = agent.headers
    for number, hub, lands in (("FD1", "ORD", "08:45:00-06:00"), ("FD2", "YYZ", "09:00:00-05:00")):
        await add_flight(client, h, number, "JFK", hub, f"{DAY}T07:00:00-05:00", f"{DAY}T{lands}")
    legs = [  # (number, from, to, departs): 44/45 min at ORD, 89/90 min at YYZ, to BOS and LHR
        ("D44", "ORD", "BOS", "09:29:00-06:00"), ("D45", "ORD", "BOS", "09:30:00-06:00"),
        ("A89", "YYZ", "BOS", "10:29:00-05:00"), ("A90", "YYZ", "BOS", "10:30:00-05:00"),
        ("I89", "ORD", "LHR", "10:14:00-06:00"), ("I90", "ORD", "LHR", "10:15:00-06:00"),
    ]  # fmt: skip
    for number, origin, destination, departs in legs:
        departure = datetime.fromisoformat(f"{DAY}T{departs}")
        arrival = (departure + timedelta(hours=7)).isoformat()
        await add_flight(client, h, number, origin, destination, departure.isoformat(), arrival)

    found = {}
    for destination in ("BOS", "LHR"):
        body = await search(client, origin="JFK", destination=destination, date=DAY)
        found[destination] = sorted(routes(body))

    assert found == {"BOS": [["FD1", "D45"], ["FD2", "A90"]], "LHR": [["FD1", "I90"]]}


@pytest.mark.parametrize("settings", ["postgres"], indirect=True)
async def test_a_one_stop_search_statement_is_prepared_once_per_connection(
    app: Any, client: httpx.AsyncClient, agent: AppUser
) -> None:
    """asyncpg keeps a statement it prepared only up to `max_cacheable_statement_size` of SQL
    (15 KiB by default): every kind of itinerary's one statement is larger, and is kept
    (`db.ASYNCPG_CONNECT_ARGS`), not prepared again with a round trip and a plan on every
    search."""
    await _network(client, agent)
    start = datetime(2026, 2, 10, 5, 0, tzinfo=UTC)
    window = SearchWindow("JFK", "SFO", start, start + timedelta(days=1), "economy", 1)
    async with read_connection(app.state.engine) as conn:
        for _ in range(3):
            found = await repository.candidates(conn, window, "price", times=TIMES, limit=50)
            assert (len(found.direct), len(found.connections), len(found.through)) == (1, 1, 0)
        prepared = await conn.exec_driver_sql("SELECT statement FROM pg_prepared_statements")
        sql = statements.candidates_statement("price").compiled(conn.dialect).sql
    # Kept by the connection (other tests' searches may have left other orders' statements).
    assert [row[0] for row in prepared if row[0] == sql] == [sql]


async def test_a_flight_in_several_pairs_of_a_read_is_made_into_one_leg(
    app: Any, client: httpx.AsyncClient, agent: AppUser
) -> None:
    """A page of connections repeats its flights: each is made into its `LegRow` once per
    read (one snapshot: the rows agree), and the pairs share it."""
    await _network(client, agent)
    await add_flight(
        client, agent.headers, "FD21", "ORD", "SFO",
        f"{DAY}T11:00:00-06:00", f"{DAY}T13:40:00-08:00",
    )  # fmt: skip
    start = datetime(2026, 2, 10, 5, 0, tzinfo=UTC)
    window = SearchWindow("JFK", "SFO", start, start + timedelta(days=1), "economy", 1)
    async with read_connection(app.state.engine) as conn:
        found = await repository.candidates(conn, window, "price", times=TIMES, limit=50)
    pairs = sorted(found.connections, key=lambda pair: pair[1].flight_number)
    assert [(first.flight_number, second.flight_number) for first, second in pairs] == [
        ("FD10", "FD20"),
        ("FD10", "FD21"),
    ]
    assert pairs[0][0] is pairs[1][0]
    assert pairs[0][0].cabins == pairs[1][0].cabins != ()


@pytest.mark.parametrize("settings", ["postgres"], indirect=True)
async def test_a_through_journeys_next_leg_is_sought_among_later_legs_only(app: Any) -> None:
    """Most flights have one leg: a one-stop search seeks the next leg of its departures
    (a through journey) in the index of the legs that follow another (`ix_flights_later_legs`,
    partial), not in the unique key of every flight. Planned with statistics of a network
    that size (300 departures from the origin that day, none of them multi-leg)."""
    start = datetime(2026, 2, 10, 5, 0, tzinfo=UTC)
    await add_flight_rows(
        app,
        [
            (f"FD{1000 + i}", "JFK", ("ORD", "DEN", "ATL")[i % 3], start + timedelta(minutes=4 * i))
            for i in range(300)
        ],
    )

    window = SearchWindow("JFK", "SFO", start, start + timedelta(days=1), "economy", 1)
    with captured_selects(app) as captured:
        async with read_connection(app.state.engine) as conn:
            await repository.candidates(conn, window, "price", times=TIMES, limit=50)
    [(sql, parameters)] = [s for s in captured if "UNION ALL" in s[0]]
    async with app.state.engine.connect() as conn:
        rows = await conn.exec_driver_sql("EXPLAIN " + sql, parameters)
        plan = "\n".join(row[0] for row in rows)
    # Only a through journey's legs can use it: read first here (its statistics say it is
    # empty), where every departure from the origin would have been a probe of the unique key.
    assert "Index Scan using ix_flights_later_legs on flights second_leg" in plan, plan
