"""The sign-in throttle on the shared rate-limit storage (a real Redis): every instance counts
the same failures, and sign-in goes on, counted in-process, while Redis is down."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack
from typing import TYPE_CHECKING

import httpx
import pytest
import pytest_asyncio
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from flightdeck.app import create_app
from flightdeck.platform.settings import Settings
from tests.servers.redis import RedisServer, running_redis
from tests.users.factories import login
from tests.users.test_login_throttle import MAX_FAILURES, THROTTLES, fail_logins, retry_after

if TYPE_CHECKING:
    from tests.conftest import TestUser

pytestmark = pytest.mark.asyncio(loop_scope="session")

ATTACKER = "192.0.2.50"


@pytest.fixture(scope="module")
def redis_server() -> Iterator[RedisServer]:
    with running_redis() as server:
        yield server


@pytest_asyncio.fixture(loop_scope="session")
async def instances(
    settings: Settings, redis_server: RedisServer, client: httpx.AsyncClient
) -> AsyncIterator[tuple[FastAPI, FastAPI]]:
    """Two app instances on the suite's database sharing one Redis, counters emptied."""
    if not redis_server.is_running:
        redis_server.restart()
    shared = settings.model_copy(
        update={
            **THROTTLES,
            "redis_url": redis_server.url(),
            "rate_limit_storage_timeout_seconds": 5.0,  # a loaded test machine is slow
        }
    )
    async with AsyncExitStack() as stack:
        first = create_app(shared)
        second = create_app(shared)
        await stack.enter_async_context(LifespanManager(first))
        await stack.enter_async_context(LifespanManager(second))
        await first.state.rate_limits.storage.reset()
        yield first, second
        if not redis_server.is_running:
            redis_server.restart()
        await first.state.rate_limits.storage.reset()


def client_of(app: FastAPI, address: str) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(address, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


async def test_failures_on_one_instance_count_on_another(
    instances: tuple[FastAPI, FastAPI], passenger: TestUser
) -> None:
    first, second = instances
    async with client_of(first, ATTACKER) as one, client_of(second, ATTACKER) as two:
        await fail_logins(one, passenger.email, MAX_FAILURES - 1)
        await fail_logins(two, passenger.email, 1)
        retry_after(await login(one, passenger.email, passenger.password))
        retry_after(await login(two, passenger.email, passenger.password))


async def test_sign_in_goes_on_while_redis_is_down(
    instances: tuple[FastAPI, FastAPI], passenger: TestUser, redis_server: RedisServer
) -> None:
    first, _ = instances
    redis_server.stop()
    async with client_of(first, ATTACKER) as http:
        assert (await login(http, passenger.email, passenger.password)).status_code == 200
        # Counted in this instance meanwhile: the pair's limit still holds.
        await fail_logins(http, passenger.email, MAX_FAILURES)
        retry_after(await login(http, passenger.email, passenger.password))
