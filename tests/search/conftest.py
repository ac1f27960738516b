"""Search tests: the suite's client with an empty cache and a clock pinned before the test
flights, and a real Redis server for the shared-cache tests."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime

import httpx
import pytest
import pytest_asyncio
from fastapi import FastAPI

from flightdeck.platform.cache import MemoryCache
from flightdeck.platform.clock import clock
from tests.servers.redis import RedisServer, running_redis

# The test flights fly in 2026; searches only offer flights departing after "now".
NOW = datetime(2026, 1, 1, tzinfo=UTC)


@pytest_asyncio.fixture(loop_scope="session")
async def client(client: httpx.AsyncClient, app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """The suite's client (tables emptied after, clock reset), with the clock at `NOW` and
    no cached searches left by an earlier test."""
    cache = app.state.cache
    if isinstance(cache, MemoryCache):
        cache.clear()
    clock.advance(NOW - clock.now())
    yield client


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    with running_redis() as server:
        yield server
