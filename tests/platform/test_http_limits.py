"""Rate limits on every request (platform/http_limits.py), in-process and on a real Redis:
N per window admits N, 429 in the one error shape with Retry-After and the RateLimit headers,
per address, per user and per route, shared by instances, and no 5xx while Redis is down."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import APIRouter, FastAPI
from prometheus_client import REGISTRY
from pydantic import ValidationError
from tests.conftest import assert_error
from tests.servers.redis import RedisServer, running_redis

from flightdeck.app import create_app
from flightdeck.platform.http_limits import rate_limit
from flightdeck.platform.security.tokens import issue_access_token
from flightdeck.platform.settings import Settings

pytestmark = pytest.mark.asyncio(loop_scope="session")
# The limits do not depend on the database: SQLite only.
sqlite_only = pytest.mark.parametrize("settings", ["sqlite"], indirect=True)
# Redis on a loaded test machine may take longer than production's 0.25 s timeout.
PATIENT = {"rate_limit_storage_timeout_seconds": 5.0}

AIRPORTS = "/airports?q=JFK"  # a cheap endpoint with no route limit of its own
RATE_LIMIT = re.compile(r'^"(?P<policy>[a-z_\-0-9]+)";r=(?P<remaining>\d+);t=(?P<reset>\d+)$')


@pytest.fixture(scope="module")
def redis_server() -> Iterator[RedisServer]:
    with running_redis() as server:
        yield server


@pytest.fixture(params=["in-process", "redis"])
def storage_url(request: pytest.FixtureRequest) -> str:
    """ "" for the in-process storage, else the Redis server's URL."""
    if request.param == "in-process":
        return ""
    server: RedisServer = request.getfixturevalue("redis_server")
    if not server.is_running:
        server.restart()
    return server.url()


@asynccontextmanager
async def serving(settings: Settings, **overrides: Any) -> AsyncIterator[FastAPI]:
    """An app with these settings changed; its counters are emptied before and after."""
    app = create_app(settings.model_copy(update={**PATIENT, **overrides}))
    async with LifespanManager(app):
        await app.state.rate_limits.storage.reset()
        try:
            yield app
        finally:
            await app.state.rate_limits.storage.reset()


def client_of(app: FastAPI, address: str = "203.0.113.20") -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(address, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


def rate_limit_header(response: httpx.Response) -> dict[str, str]:
    match = RATE_LIMIT.match(response.headers["RateLimit"])
    assert match, response.headers["RateLimit"]
    return match.groupdict()


def assert_rate_limited(response: httpx.Response, policy: str) -> None:
    error = assert_error(response, 429, "rate_limited")
    retry_after = int(response.headers["Retry-After"])
    assert 1 <= retry_after <= 60
    assert error["details"] == {"policy": policy, "retry_after_seconds": retry_after}
    assert rate_limit_header(response) == {
        "policy": policy,
        "remaining": "0",
        "reset": str(retry_after),
    }


async def statuses(http: httpx.AsyncClient, times: int, url: str = AIRPORTS) -> list[int]:
    return [(await http.get(url)).status_code for _ in range(times)]


# --- limits per address, per user, per route ---------------------------------------------------


@sqlite_only
async def test_n_per_minute_admits_n_then_answers_429_in_the_error_shape(
    settings: Settings, storage_url: str
) -> None:
    async with serving(settings, redis_url=storage_url, rate_limit_per_address="5/minute") as app:
        async with client_of(app) as http:
            assert await statuses(http, 5) == [200] * 5
            assert_rate_limited(await http.get(AIRPORTS), "address")
        async with client_of(app, "203.0.113.21") as other:
            assert await statuses(other, 1) == [200]  # another address has its own count


@sqlite_only
async def test_every_response_tells_the_policies_and_what_is_left(
    settings: Settings, storage_url: str
) -> None:
    token, _ = issue_access_token(settings, "user-1", "passenger")
    async with (
        serving(
            settings,
            redis_url=storage_url,
            rate_limit_per_address="5/minute",
            rate_limit_per_user="3/minute;100/hour",
        ) as app,
        client_of(app) as http,
    ):
        anonymous = await http.get(AIRPORTS)
        assert anonymous.headers["RateLimit-Policy"] == '"address";q=5;w=60'
        header = rate_limit_header(anonymous)
        assert header["policy"] == "address" and header["remaining"] == "4"
        assert 1 <= int(header["reset"]) <= 60
        signed_in = await http.get(AIRPORTS, headers={"Authorization": f"Bearer {token}"})
    assert signed_in.headers["RateLimit-Policy"] == (
        '"address";q=5;w=60, "user-60s";q=3;w=60, "user-3600s";q=100;w=3600'
    )
    assert rate_limit_header(signed_in)["policy"] == "user-60s"  # 2 left, the fewest
    assert rate_limit_header(signed_in)["remaining"] == "2"


@sqlite_only
async def test_a_signed_in_user_is_limited_whatever_the_address(
    settings: Settings, storage_url: str
) -> None:
    alice = {"Authorization": f"Bearer {issue_access_token(settings, 'alice', 'passenger')[0]}"}
    bob = {"Authorization": f"Bearer {issue_access_token(settings, 'bob', 'passenger')[0]}"}
    async with serving(settings, redis_url=storage_url, rate_limit_per_user="3/minute") as app:
        for n in range(3):
            async with client_of(app, f"198.51.100.{n}") as http:
                assert (await http.get(AIRPORTS, headers=alice)).status_code == 200
        async with client_of(app, "198.51.100.99") as http:
            assert_rate_limited(await http.get(AIRPORTS, headers=alice), "user")
            assert (await http.get(AIRPORTS, headers=bob)).status_code == 200
            # A forged token does not count against anyone's user limit.
            forged = {"Authorization": "Bearer not-a-token"}
            assert (await http.get(AIRPORTS, headers=forged)).status_code == 200


@sqlite_only
async def test_a_route_declares_a_stricter_limit_per_user_or_address(
    settings: Settings, storage_url: str
) -> None:
    search = "/search?origin=JFK&destination=SFO&date=2026-02-10"
    alice = {"Authorization": f"Bearer {issue_access_token(settings, 'alice', 'passenger')[0]}"}
    async with serving(settings, redis_url=storage_url, rate_limit_search="2/minute") as app:
        async with client_of(app) as http:
            assert await statuses(http, 2, search) == [200, 200]
            assert_rate_limited(await http.get(search), "search")
            assert (await http.get(AIRPORTS)).status_code == 200  # other routes go on
            # Signed in, the same address counts the search limit for the user instead.
            assert (await http.get(search, headers=alice)).status_code == 200
        async with client_of(app, "203.0.113.99") as other:
            assert (await other.get(search)).status_code == 200


@sqlite_only
async def test_register_and_login_have_their_own_limits(settings: Settings) -> None:
    body = {"email": "nobody@example.com", "password": "wrong-password-1"}
    async with (
        serving(settings, rate_limit_login="2/minute", rate_limit_register="1/minute") as app,
        client_of(app) as http,
    ):
        for _ in range(2):
            assert_error(await http.post("/login", json=body), 401)
        assert_rate_limited(await http.post("/login", json=body), "login")
        assert_error(await http.post("/register", json={}), 422)
        assert_rate_limited(await http.post("/register", json={}), "register")


@sqlite_only
async def test_probes_and_metrics_are_not_limited(settings: Settings) -> None:
    limited = serving(settings, rate_limit_per_address="1/minute")
    async with limited as app, client_of(app) as http:
        assert await statuses(http, 2) == [200, 429]
        for path in ("/healthz", "/readyz", "/metrics"):
            assert await statuses(http, 3, path) == [200] * 3


@sqlite_only
async def test_limits_can_be_switched_off(settings: Settings) -> None:
    async with (
        serving(settings, rate_limits_enabled=False, rate_limit_per_address="1/minute") as app,
        client_of(app) as http,
    ):
        responses = [await http.get(AIRPORTS) for _ in range(3)]
    assert [r.status_code for r in responses] == [200] * 3
    assert "RateLimit" not in responses[0].headers


# --- shared by instances, and Redis outages ---------------------------------------------------


@sqlite_only
async def test_instances_on_one_redis_count_together(
    settings: Settings, redis_server: RedisServer
) -> None:
    if not redis_server.is_running:
        redis_server.restart()
    shared = {"redis_url": redis_server.url(), "rate_limit_per_address": "6/minute"}
    async with (
        serving(settings, **shared) as first,
        serving(settings, **shared) as second,
        client_of(first) as one,
        client_of(second) as two,
    ):
        results = [(await (one if n % 2 else two).get(AIRPORTS)).status_code for n in range(10)]
    assert results == [200] * 6 + [429] * 4


def fallbacks() -> float:
    total = 0.0
    for metric in REGISTRY.collect():
        if metric.name == "flightdeck_rate_limit_fallbacks":
            total += sum(s.value for s in metric.samples if s.name.endswith("_total"))
    return total


@sqlite_only
async def test_while_redis_is_down_limits_are_counted_in_process_without_errors(
    settings: Settings, redis_server: RedisServer
) -> None:
    if not redis_server.is_running:
        redis_server.restart()
    async with (
        serving(settings, redis_url=redis_server.url(), rate_limit_per_address="3/minute") as app,
        client_of(app) as http,
    ):
        assert await statuses(http, 1) == [200]  # counted in Redis
        before = fallbacks()
        redis_server.stop()
        try:
            # Redis is gone mid-test: the in-process storage counts from zero, no 5xx.
            assert await statuses(http, 4) == [200, 200, 200, 429]
            assert fallbacks() >= before + 4
        finally:
            redis_server.restart()


# --- configuration ---------------------------------------------------------------------------


async def test_a_route_naming_an_unknown_limit_fails_when_declared() -> None:
    with pytest.raises(LookupError, match="rate_limit_no_such_limit"):
        APIRouter().get("/x", dependencies=[rate_limit("no_such_limit")])


async def test_a_malformed_limit_setting_is_refused() -> None:
    with pytest.raises(ValidationError, match="rate limit"):
        Settings(rate_limit_per_address="plenty")
    with pytest.raises(ValidationError, match="trusted_proxies"):
        Settings(trusted_proxies="10.0.0.1, the-gateway")
