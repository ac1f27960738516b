"""Cached searches are answered before routing (search/edge.py), exactly as the route answers
them; everything else still goes to the route."""

from __future__ import annotations

import httpx
import pytest
from prometheus_client import REGISTRY

from flightdeck.platform.settings import Settings
from tests.conftest import TestUser as AppUser
from tests.conftest import assert_error
from tests.platform.test_http_limits import (
    assert_rate_limited,
    client_of,
    rate_limit_header,
    serving,
    sqlite_only,
)
from tests.search.factories import add_flight

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


async def test_a_repeated_search_is_answered_before_routing_with_the_routes_answer(
    client: httpx.AsyncClient, agent: AppUser
) -> None:
    await _flight(client, agent)
    route, edge = answers("route"), answers("edge")
    first = await client.get(SEARCH)
    assert (answers("route"), answers("edge")) == (route + 1, edge)
    second = await client.get(SEARCH)
    assert (answers("route"), answers("edge")) == (route + 1, edge + 1)

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
    edge = answers("edge")
    assert (await client.get(SEARCH)).status_code == 200
    assert answers("edge") == edge + 1
    assert sample("flightdeck_http_requests_total", labels) == before + 1


async def test_bad_queries_and_unknown_airports_are_answered_by_the_route(
    client: httpx.AsyncClient,
) -> None:
    edge = answers("edge")
    for _ in range(2):  # the second time too: nothing of theirs is cached
        assert_error(await client.get("/search?origin=JFK&date=2026-02-10"), 422)
        assert_error(
            await client.get(f"/search?origin=JFK&destination=SFO&date={DAY}&cabin=x"), 422
        )
        response = await client.get(f"/search?origin=ZZZ&destination=SFO&date={DAY}")
        assert_error(response, 422, "unknown_airport")
    assert answers("edge") == edge


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
async def test_with_the_cache_off_every_search_goes_to_the_route(settings: Settings) -> None:
    async with serving(settings, search_cache_seconds=0) as uncached, client_of(uncached) as http:
        route, edge = answers("route"), answers("edge")
        for _ in range(2):
            assert (await http.get(SEARCH)).status_code == 200
        assert (answers("route"), answers("edge")) == (route + 2, edge)
