"""The rate-limit storage (platform/ratelimit.py): in-process, on a real Redis, the fallback
while Redis is down, and the counters built on it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import pytest
import pytest_asyncio
from limits.aio.storage import Storage
from prometheus_client import REGISTRY
from tests.servers.redis import RedisServer, running_redis

from flightdeck.platform.errors import TooManyRequests
from flightdeck.platform.ratelimit import (
    ExpiringFlags,
    FailureThrottle,
    FallbackStorage,
    InProcessStorage,
    IntervalGate,
    create_rate_limit_storage,
)
from flightdeck.platform.settings import Settings

pytestmark = pytest.mark.asyncio(loop_scope="session")

# A loaded test machine can take longer than production's 0.25 s to answer; a timeout would
# (rightly) count in-process instead and blur what these tests look at.
PATIENT = {"rate_limit_storage_timeout_seconds": 5.0}


@pytest.fixture(scope="module")
def redis_server() -> Iterator[RedisServer]:
    with running_redis() as server:
        yield server


@pytest_asyncio.fixture(loop_scope="session", params=["in-process", "redis"])
async def storage(request: pytest.FixtureRequest) -> AsyncIterator[Storage]:
    url = ""
    if request.param == "redis":
        server: RedisServer = request.getfixturevalue("redis_server")
        if not server.is_running:
            server.restart()
        url = server.url()
    storage = create_rate_limit_storage(Settings(redis_url=url, **PATIENT))
    await storage.reset()
    yield storage
    await storage.reset()
    if isinstance(storage, FallbackStorage):
        await storage.close()


def fallbacks(operation: str) -> float:
    labels = {"operation": operation}
    return REGISTRY.get_sample_value("flightdeck_rate_limit_fallbacks_total", labels) or 0.0


async def test_redis_url_gives_a_shared_storage_with_a_fallback() -> None:
    assert isinstance(create_rate_limit_storage(Settings(redis_url="")), InProcessStorage)
    shared = create_rate_limit_storage(Settings(redis_url="redis://127.0.0.1:9/0"))
    assert isinstance(shared, FallbackStorage)
    await shared.close()


async def test_failure_throttle_refuses_past_the_limit_with_retry_after(storage: Storage) -> None:
    throttle = FailureThrottle(3, 60, storage)
    for _ in range(3):
        await throttle.ensure_allowed("k")
        await throttle.record_failure("k")
    assert await throttle.failures("k") == 3
    with pytest.raises(TooManyRequests) as refused:
        await throttle.ensure_allowed("k")
    assert refused.value.headers is not None
    assert 1 <= int(refused.value.headers["Retry-After"]) <= 60
    await throttle.reset("k")
    await throttle.ensure_allowed("k")


async def test_interval_gate_admits_one_caller_per_interval(storage: Storage) -> None:
    gate = IntervalGate(storage, "test-gate")
    results = await asyncio.gather(*(gate.admit("account", 30) for _ in range(10)))
    assert results.count(None) == 1
    assert all(1 <= wait <= 30 for wait in results if wait is not None)
    assert await gate.admit("another-account", 30) is None


async def test_expiring_flags_are_remembered_per_key(storage: Storage) -> None:
    flags = ExpiringFlags(storage, "test-flags")
    assert not await flags.is_set("a")
    await flags.remember("a", 60)
    await flags.remember("a", 60)  # again: still set, with a fresh lifetime
    assert await flags.is_set("a")
    assert not await flags.is_set("b")


async def test_while_redis_is_down_counts_go_in_process_and_back(redis_server: RedisServer) -> None:
    if not redis_server.is_running:
        redis_server.restart()
    storage = create_rate_limit_storage(Settings(redis_url=redis_server.url(), **PATIENT))
    assert isinstance(storage, FallbackStorage)
    storage.retry_after_seconds = 0  # try Redis again on every call: no waiting in the test
    try:
        assert await storage.incr("k", 60) == 1  # in Redis
        before = fallbacks("incr")
        redis_server.stop()
        assert await storage.incr("k", 60) == 1  # in-process, counting from zero
        assert await storage.incr("k", 60) == 2
        assert fallbacks("incr") == before + 2
        redis_server.restart()  # empty again
        assert await storage.incr("k", 60) == 1  # Redis answers again
        assert fallbacks("incr") == before + 2
    finally:
        if not redis_server.is_running:
            redis_server.restart()
        await storage.close()


async def test_clearing_a_key_during_the_in_process_expiry_pass_does_not_break_it() -> None:
    storage = InProcessStorage()
    await storage.acquire_entry("a", 5, 60)
    await storage.acquire_entry("b", 5, 60)
    expiry_pass = storage.timer  # scheduled by the first acquisition
    assert expiry_pass is not None
    await asyncio.sleep(0)  # the pass starts: it has listed both keys and is on "a"
    await storage.clear("b")
    await expiry_pass  # limits' own storage raised KeyError('b') here
    _, entries = await storage.get_moving_window("b", 5, 60)
    assert entries == 0


async def test_the_in_process_expiry_pass_runs_at_most_once_a_second() -> None:
    storage = InProcessStorage()
    await storage.acquire_entry("a", 5, 60)
    expiry_pass = storage.timer  # scheduled by the first count
    assert expiry_pass is not None
    await expiry_pass
    for _ in range(10):  # limits would start a new pass on each of these
        await storage.incr("b", 60)
        await storage.acquire_entry("a", 5, 60)
    assert storage.timer is expiry_pass
    assert await storage.get("b") == 10  # counting itself is unchanged
    _, entries = await storage.get_moving_window("a", 5, 60)
    assert entries == 5
