"""Searches are answered before routing (search/edge.py), from the cache or the database,
exactly as the route answers them; everything else still goes to the route, a read that
failed at the edge too (answered by the app's handlers, not read again)."""

from __future__ import annotations

import asyncpg
import httpx
import pytest
from prometheus_client import REGISTRY
from sqlalchemy import text

from flightdeck.platform.settings import Settings
from tests.conftest import TestUser as AppUser
from tests.conftest import assert_error, assert_unavailable
from tests.platform.test_http_limits import (
    assert_rate_limited,
    client_of,
    rate_limit_header,
    serving,
    sqlite_only,
)
from tests.search.factories import add_flight
from tests.statements import statements_sent

pytestmark = pytest.mark.asyncio(loop_scope="session")

DAY = "2026-02-10"
SEARCH = f"/search?origin=JFK&destination=SFO&date={DAY}"


def answers(source: str) -> float:
    value = REGISTRY.get_sample_value("flightdeck_search_answers_total", {"source": source})
    return value or 0.0


def sample(name: str, labels: dict[str, str]) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def _flight(client: httpx.AsyncClient, agent: AppUser) -> None:
    await add_flight(
        client, agent.headers, "FD1", "JFK", "SFO", f"{DAY}T09:00:00-05:00", f"{DAY}T12:30:00-08:00"
    )


def counts() -> tuple[float, float, float]:
    return answers("database"), answers("cache"), answers("route")


async def test_a_search_is_read_then_repeated_from_the_cache_before_routing(
    client: httpx.AsyncClient, agent: AppUser
) -> None:
    await _flight(client, agent)
    database, cache, route = counts()
    first = await client.get(SEARCH)
    assert counts() == (database + 1, cache, route)
    second = await client.get(SEARCH)
    assert counts() == (database + 1, cache + 1, route)

    assert first.status_code == second.status_code == 200
    assert first.content == second.content
    assert len(first.json()["itineraries"]) == 1
    for header in ("content-type", "content-length", "ratelimit-policy"):
        assert first.headers[header] == second.headers[header], header


async def test_an_answer_from_the_edge_is_counted_under_the_route_in_the_metrics(
    client: httpx.AsyncClient, agent: AppUser
) -> None:
    await _flight(client, agent)
    await client.get(SEARCH)
    labels = {"method": "GET", "route": "/search", "status": "200"}
    before = sample("flightdeck_http_requests_total", labels)
    cache = answers("cache")
    assert (await client.get(SEARCH)).status_code == 200
    assert answers("cache") == cache + 1
    assert sample("flightdeck_http_requests_total", labels) == before + 1


async def test_bad_queries_and_unknown_airports_are_answered_by_the_route(
    client: httpx.AsyncClient,
) -> None:
    before = counts()
    for _ in range(2):  # the second time too: nothing of theirs is cached
        assert_error(await client.get("/search?origin=JFK&date=2026-02-10"), 422)
        assert_error(
            await client.get(f"/search?origin=JFK&destination=SFO&date={DAY}&cabin=x"), 422
        )
        response = await client.get(f"/search?origin=ZZZ&destination=SFO&date={DAY}")
        assert_error(response, 422, "unknown_airport")
    assert counts() == before  # the route answered, none of them a 200


async def test_a_miss_looks_in_the_cache_once(client: httpx.AsyncClient, agent: AppUser) -> None:
    await _flight(client, agent)
    misses = {"backend": "memory", "result": "miss"}
    before = sample("flightdeck_cache_lookups_total", misses)
    assert (await client.get(SEARCH)).status_code == 200
    # One for the search (by the edge; the route does not look again), one for the flight's
    # punctuality (its own cache).
    assert sample("flightdeck_cache_lookups_total", misses) == before + 2


@sqlite_only  # the limits count the same way whatever the database
async def test_the_search_limit_counts_a_cached_search_once(settings: Settings) -> None:
    async with serving(settings, rate_limit_search="3/minute") as app, client_of(app) as http:
        remaining = []
        for _ in range(3):  # the first reads the database, the next two come from the cache
            response = await http.get(SEARCH)
            assert response.status_code == 200
            remaining.append(rate_limit_header(response)["remaining"])
        assert remaining == ["2", "1", "0"]
        rate_limited = sample("flightdeck_rate_limited_total", {"policy": "search"})
        assert_rate_limited(await http.get(SEARCH), "search")
        assert sample("flightdeck_rate_limited_total", {"policy": "search"}) == rate_limited + 1


@sqlite_only  # where a search is answered does not depend on the database
async def test_with_the_cache_off_every_search_is_read_before_routing(settings: Settings) -> None:
    async with serving(settings, search_cache_seconds=0) as uncached, client_of(uncached) as http:
        database, cache, route = counts()
        for _ in range(2):
            assert (await http.get(SEARCH)).status_code == 200
        assert counts() == (database + 2, cache, route)


@pytest.mark.parametrize("settings", ["postgres"], indirect=True)  # a read that fails for real
async def test_a_read_that_fails_at_the_edge_is_answered_by_the_app_once(
    settings: Settings,
) -> None:
    """The edge's read fails (the server ended its connection); the route raises that failure,
    so the app's handlers answer it in the one error shape (a 503: the database did not
    answer), and nothing reads it again."""
    alone = {  # one pooled connection, and no background worker to take it first
        "database_pool_size": 1,
        "relay_interval_seconds": 0,
        "payment_reconcile_seconds": 0,
        "payment_refund_poll_seconds": 0,
    }
    async with serving(settings, search_cache_seconds=0, **alone) as app:
        async with app.state.engine.connect() as conn:
            pid = await conn.scalar(text("SELECT pg_backend_pid()"))
        await _end_backend(settings.database_url, pid)
        before = counts()
        async with client_of(app) as http:
            with statements_sent(app) as sent:
                response = await http.get(SEARCH)
            assert_unavailable(response, "service_unavailable")
            assert counts() == before
            assert len(sent) == 1  # the edge's read, not repeated by the route
            assert (await http.get(SEARCH)).status_code == 200  # on a new connection
            assert counts() == (before[0] + 1, before[1], before[2])


async def _end_backend(url: str, pid: int) -> None:
    connection = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        # With a timeout the call returns once the backend is gone, not when it was signalled.
        assert await connection.fetchval("SELECT pg_terminate_backend($1, 5000)", pid)
    finally:
        await connection.close()
