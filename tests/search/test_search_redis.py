"""Search behind the shared Redis cache (a real redis-server): cached across requests,
refreshed by flight changes, and answered from the database while Redis is down."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
import pytest_asyncio
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from prometheus_client import REGISTRY

from flightdeck.app import create_app
from flightdeck.platform.cache import RedisCache
from flightdeck.platform.settings import Settings
from tests.conftest import TestUser as AppUser
from tests.search.factories import add_flight, routes, search
from tests.search.statements import captured_selects, flight_searches
from tests.servers.redis import RedisServer

pytestmark = pytest.mark.asyncio(loop_scope="session")

DAY = "2026-02-10"
QUERY = {"origin": "JFK", "destination": "SFO", "date": DAY}


@pytest_asyncio.fixture(loop_scope="session")
async def redis_app(
    client: httpx.AsyncClient, settings: Settings, redis_server: RedisServer
) -> AsyncIterator[FastAPI]:
    """An app on the suite's database whose cache is the Redis server (emptied first)."""
    if not redis_server.is_running:
        redis_server.restart()
    application = create_app(settings.model_copy(update={"redis_url": redis_server.url()}))
    async with LifespanManager(application):
        yield application
    if not redis_server.is_running:
        redis_server.restart()


@pytest_asyncio.fixture(loop_scope="session")
async def redis_client(redis_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=redis_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


def redis_errors(operation: str) -> float:
    labels = {"backend": "redis", "operation": operation}
    return REGISTRY.get_sample_value("flightdeck_cache_errors_total", labels) or 0.0


async def _jfk_sfo(http: httpx.AsyncClient, agent: AppUser) -> dict[str, object]:
    return await add_flight(
        http, agent.headers, "FD1", "JFK", "SFO", f"{DAY}T09:00:00-05:00", f"{DAY}T12:30:00-08:00"
    )


async def test_redis_cache_serves_repeated_searches_until_a_flight_changes(
    redis_app: FastAPI, redis_client: httpx.AsyncClient, agent: AppUser
) -> None:
    assert isinstance(redis_app.state.cache, RedisCache)
    flight = await _jfk_sfo(redis_client, agent)
    assert routes(await search(redis_client, **QUERY)) == [["FD1"]]

    with captured_selects(redis_app) as cached_reads:
        assert routes(await search(redis_client, **QUERY)) == [["FD1"]]
    response = await redis_client.put(
        f"/flights/{flight['id']}/status", json={"status": "cancelled"}, headers=agent.headers
    )
    assert response.status_code == 200, response.text
    with captured_selects(redis_app) as fresh_reads:
        after_change = await search(redis_client, **QUERY)

    assert flight_searches(cached_reads) == []
    assert flight_searches(fresh_reads) != []
    assert after_change["itineraries"] == []


async def test_search_answers_from_the_database_while_redis_is_down_and_caches_again_after(
    redis_app: FastAPI,
    redis_client: httpx.AsyncClient,
    redis_server: RedisServer,
    agent: AppUser,
) -> None:
    cache = redis_app.state.cache
    flight = await _jfk_sfo(redis_client, agent)
    await search(redis_client, **QUERY)
    errors = redis_errors("tagged_key")

    redis_server.stop()
    during = await search(redis_client, **QUERY)
    change = await redis_client.put(  # its cache invalidation fails; the change does not
        f"/flights/{flight['id']}/status",
        json={"status": "delayed", "delay_minutes": 30},
        headers=agent.headers,
    )
    redis_server.restart()
    cache.retry_after_seconds = 0  # no need to wait out the back-off in a test
    await search(redis_client, **QUERY)
    with captured_selects(redis_app) as reads:
        after = await search(redis_client, **QUERY)

    assert routes(during) == [["FD1"]]
    assert redis_errors("tagged_key") > errors
    assert change.status_code == 200, change.text
    assert routes(after) == [["FD1"]]
    assert flight_searches(reads) == []  # cached in Redis again


async def test_readyz_reports_a_redis_outage_without_leaving_the_load_balancer(
    redis_client: httpx.AsyncClient, redis_server: RedisServer
) -> None:
    ready = await redis_client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ok", "checks": {"database": "ok"}, "degraded": {}}

    # The app copes without Redis (the cache falls through, limits count in-process): still
    # ready, so a Redis outage does not take every instance out at once; reported as degraded.
    redis_server.stop()
    down = await redis_client.get("/readyz")
    assert down.status_code == 200
    assert down.json()["checks"] == {"database": "ok"}
    assert down.json()["degraded"]["cache"].startswith("error")
    redis_server.restart()
    assert (await redis_client.get("/readyz")).json()["degraded"] == {}
