"""The platform cache: the in-process cache, the Redis cache against a real redis-server
(including while it is down), tag invalidation and invalidation after commit."""

from __future__ import annotations

import asyncio
import socket
import time
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
import pytest_asyncio
from prometheus_client import REGISTRY
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine
from tests.servers.redis import RedisServer, running_redis

from flightdeck.platform import cache as cache_module
from flightdeck.platform.cache import (
    TAG_SECONDS,
    Cache,
    MemoryCache,
    NullCache,
    RedisCache,
    configure_cache,
    create_cache,
    get_cache,
)
from flightdeck.platform.cache_invalidation import invalidate_tags
from flightdeck.platform.settings import Settings

pytestmark = pytest.mark.asyncio(loop_scope="session")


class FakeTimer:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


# --- the in-process cache ----------------------------------------------------------------


async def test_memory_cache_returns_what_was_set_until_its_ttl_runs_out() -> None:
    timer = FakeTimer()
    cache = MemoryCache(timer=timer)
    await cache.set("a", b"1", ttl=30)

    fresh = await cache.get("a")
    timer.now += 29.9
    still_fresh = await cache.get("a")
    timer.now += 0.1
    expired = await cache.get("a")

    assert (fresh, still_fresh, expired) == (b"1", b"1", None)
    assert await cache.get("never-set") is None


async def test_memory_cache_stores_nothing_with_a_zero_ttl() -> None:
    cache = MemoryCache()
    await cache.set("a", b"1", ttl=0)

    assert await cache.get("a") is None


async def test_memory_cache_drops_the_least_recently_used_entry_when_full() -> None:
    cache = MemoryCache(max_entries=2)
    await cache.set("a", b"1", ttl=30)
    await cache.set("b", b"2", ttl=30)
    await cache.get("a")  # "b" is now the least recently used

    await cache.set("c", b"3", ttl=30)

    assert [await cache.get(key) for key in ("a", "b", "c")] == [b"1", None, b"3"]
    assert len(cache) == 2


async def test_memory_cache_drops_the_least_recently_used_entries_past_its_bytes() -> None:
    # Each entry is its key's byte and its value's nine: 10 bytes, 30 in all.
    cache = MemoryCache(max_bytes=30)
    for key in ("a", "b", "c"):
        await cache.set(key, b"123456789", ttl=30)
    await cache.get("a")  # "b" is now the least recently used
    full = cache.memory_bytes

    await cache.set("d", b"12345678901234", ttl=30)  # 15 bytes: "b" and then "c" go

    assert full == 30
    assert [await cache.get(key) for key in "abcd"] == [b"123456789", None, None, b"12345678901234"]
    assert (cache.memory_bytes, len(cache)) == (25, 2)


async def test_memory_cache_keeps_no_value_larger_than_its_bytes_nor_the_one_it_replaced() -> None:
    cache = MemoryCache(max_bytes=30)
    await cache.set("a", b"1", ttl=30)
    await cache.set("b", b"old", ttl=30)

    await cache.set("b", b"x" * 30, ttl=30)  # 31 bytes with its key: more than the whole cache

    assert [await cache.get("a"), await cache.get("b")] == [b"1", None]
    assert (cache.memory_bytes, len(cache)) == (2, 1)


async def test_memory_cache_counts_the_bytes_of_what_it_holds_only() -> None:
    timer = FakeTimer()
    cache = MemoryCache(max_bytes=1000, timer=timer)
    await cache.set("a", b"12", ttl=10)
    await cache.set("a", b"1234", ttl=10)  # replaced: counted once
    await cache.set("bb", b"1", ttl=30)
    await cache.set("ccc", b"1", ttl=30)
    held = cache.memory_bytes

    timer.now += 10
    await cache.get("a")  # expired: dropped
    after_expiry = cache.memory_bytes
    await cache.delete(["bb", "never-set"])
    after_delete = cache.memory_bytes
    cache.clear()

    assert (held, after_expiry, after_delete, cache.memory_bytes) == (12, 7, 4, 0)


async def test_memory_cache_refuses_a_bound_below_one() -> None:
    with pytest.raises(ValueError, match="max_bytes"):
        MemoryCache(max_bytes=0)
    with pytest.raises(ValueError, match="max_entries"):
        MemoryCache(max_entries=0)


async def _check_tag_invalidation(cache: Cache) -> None:
    """A key embeds its tags' versions: invalidating a tag changes the keys under it only."""
    key = await cache.tagged_key("search:JFK:SFO", ["from:JFK", "to:SFO"])
    other = await cache.tagged_key("search:BOS:LAX", ["from:BOS", "to:LAX"])
    assert key is not None and other is not None
    assert key == await cache.tagged_key("search:JFK:SFO", ["from:JFK", "to:SFO"])
    await cache.set(key, b"cached", ttl=30)
    await cache.set(other, b"other", ttl=30)

    await cache.invalidate_tag("to:SFO")

    new_key = await cache.tagged_key("search:JFK:SFO", ["from:JFK", "to:SFO"])
    assert new_key is not None and new_key != key
    assert await cache.get(new_key) is None
    assert await cache.tagged_key("search:BOS:LAX", ["from:BOS", "to:LAX"]) == other
    assert await cache.get(other) == b"other"


async def test_memory_cache_invalidates_by_tag() -> None:
    await _check_tag_invalidation(MemoryCache())


async def test_null_cache_never_caches() -> None:
    cache = NullCache()
    await cache.set("a", b"1", ttl=30)
    await cache.invalidate_tag("t")

    assert await cache.get("a") is None
    assert await cache.tagged_key("a", ["t"]) is None


async def test_settings_choose_the_cache() -> None:
    embedded = create_cache(Settings())
    shared = create_cache(Settings(redis_url="redis://127.0.0.1:1/0"))

    assert isinstance(embedded, MemoryCache)
    assert embedded.max_bytes == 256 * 1024 * 1024
    assert isinstance(shared, RedisCache)
    await shared.close()


async def test_settings_bound_the_in_process_cache_in_megabytes() -> None:
    cache = create_cache(Settings(cache_memory_megabytes=1.5))

    assert isinstance(cache, MemoryCache) and cache.max_bytes == 1536 * 1024
    for refused in (0.5, "1e400", "nan", 2 * 1024 * 1024):
        with pytest.raises(ValueError, match="cache_memory_megabytes"):
            Settings(cache_memory_megabytes=refused)


async def test_metrics_show_the_bytes_the_configured_cache_holds() -> None:
    cache = MemoryCache()
    await cache.set("key", b"value", ttl=30)
    previous = configure_cache(cache)
    try:
        held = REGISTRY.get_sample_value("flightdeck_cache_memory_bytes")
    finally:
        configure_cache(None)
    try:
        without = REGISTRY.get_sample_value("flightdeck_cache_memory_bytes")
    finally:
        configure_cache(previous)

    assert (held, without) == (8, 0)


async def test_configured_cache_is_the_one_domains_get_and_the_previous_comes_back() -> None:
    cache = MemoryCache()
    previous = configure_cache(cache)
    try:
        assert get_cache() is cache
    finally:
        assert configure_cache(previous) is cache
    assert get_cache() is previous
    configure_cache(None)
    try:
        assert isinstance(get_cache(), NullCache)
    finally:
        configure_cache(previous)


# --- invalidation after commit -----------------------------------------------------------


@pytest_asyncio.fixture(loop_scope="session")
async def session() -> AsyncIterator[AsyncSession]:
    engine = create_async_engine("sqlite+aiosqlite://")
    async with async_sessionmaker(engine)() as db:
        await db.execute(text("SELECT 1"))  # a transaction is open
        yield db
    await engine.dispose()


@pytest.fixture
def memory_cache() -> Iterator[MemoryCache]:
    cache = MemoryCache()
    previous = configure_cache(cache)
    yield cache
    configure_cache(previous)


async def _settled() -> None:
    for _ in range(5):  # the after-commit invalidation runs as a task
        await asyncio.sleep(0)


async def test_invalidation_is_repeated_after_the_transaction_commits(
    session: AsyncSession, memory_cache: MemoryCache
) -> None:
    before = await memory_cache.tagged_key("k", ["t"])
    await invalidate_tags(["t"], session=session)
    # A reader between the change and its commit caches the old data under this key.
    during = await memory_cache.tagged_key("k", ["t"])
    savepoint = await session.begin_nested()
    await savepoint.commit()
    await _settled()
    after_savepoint = await memory_cache.tagged_key("k", ["t"])

    await session.commit()
    await _settled()

    assert before != during == after_savepoint  # a SAVEPOINT is not the commit
    assert await memory_cache.tagged_key("k", ["t"]) != during


async def test_rolled_back_transaction_invalidates_nothing_more(
    session: AsyncSession, memory_cache: MemoryCache
) -> None:
    await invalidate_tags(["t"], session=session)
    during = await memory_cache.tagged_key("k", ["t"])

    await session.rollback()
    await session.execute(text("SELECT 1"))
    await session.commit()
    await _settled()

    assert await memory_cache.tagged_key("k", ["t"]) == during


# --- Redis --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def redis_server() -> Iterator[RedisServer]:
    with running_redis() as server:
        yield server


@pytest_asyncio.fixture(loop_scope="session")
async def redis_cache(redis_server: RedisServer) -> AsyncIterator[RedisCache]:
    if not redis_server.is_running:
        redis_server.restart()
    cache = RedisCache(redis_server.url(), prefix=f"test-{uuid.uuid4().hex}:")
    yield cache
    await cache.close()
    if not redis_server.is_running:
        redis_server.restart()


def redis_errors(operation: str) -> float:
    labels = {"backend": "redis", "operation": operation}
    return REGISTRY.get_sample_value("flightdeck_cache_errors_total", labels) or 0.0


async def test_redis_cache_returns_what_was_set_until_its_ttl_runs_out(
    redis_cache: RedisCache,
) -> None:
    await redis_cache.set("a", b"\x00binary\xff", ttl=30)
    await redis_cache.set("short", b"1", ttl=0.05)

    assert await redis_cache.get("a") == b"\x00binary\xff"
    await asyncio.sleep(0.1)
    assert await redis_cache.get("short") is None
    assert await redis_cache.get("never-set") is None


async def test_redis_cache_invalidates_by_tag(redis_cache: RedisCache) -> None:
    await _check_tag_invalidation(redis_cache)


async def test_redis_tag_versions_expire_after_a_day(redis_cache: RedisCache) -> None:
    await redis_cache.tagged_key("search", ["from:JFK:2026-02-10"])
    drawn = await redis_cache._client.ttl(f"{redis_cache.prefix}tag:from:JFK:2026-02-10")
    await redis_cache.invalidate_tag("to:SFO:2026-02-11")
    invalidated = await redis_cache._client.ttl(f"{redis_cache.prefix}tag:to:SFO:2026-02-11")

    assert TAG_SECONDS - 60 < drawn <= TAG_SECONDS
    assert TAG_SECONDS - 60 < invalidated <= TAG_SECONDS


async def test_tag_invalidation_reaches_every_instance_sharing_the_server(
    redis_server: RedisServer, redis_cache: RedisCache
) -> None:
    other_instance = RedisCache(redis_server.url(), prefix=redis_cache.prefix)
    try:
        key = await redis_cache.tagged_key("search", ["from:JFK"])
        assert key is not None
        await redis_cache.set(key, b"cached", ttl=30)
        assert await other_instance.tagged_key("search", ["from:JFK"]) == key
        assert await other_instance.get(key) == b"cached"

        await other_instance.invalidate_tag("from:JFK")

        assert await redis_cache.tagged_key("search", ["from:JFK"]) != key
    finally:
        await other_instance.close()


async def test_redis_outage_is_a_miss_never_an_error_and_restart_recovers(
    redis_server: RedisServer, redis_cache: RedisCache, caplog: pytest.LogCaptureFixture
) -> None:
    key = await redis_cache.tagged_key("search", ["from:JFK"])
    assert key is not None
    await redis_cache.set(key, b"cached", ttl=30)
    errors = redis_errors("get")

    redis_server.stop()
    redis_cache.retry_after_seconds = 0  # try Redis on every call: each must fail softly
    during = [
        await redis_cache.get(key),
        await redis_cache.tagged_key("search", ["from:JFK"]),
    ]
    await redis_cache.set(key, b"new", ttl=30)
    await redis_cache.invalidate_tag("from:JFK")
    redis_server.restart()  # empty again
    new_key = await redis_cache.tagged_key("search", ["from:JFK"])
    assert new_key is not None
    await redis_cache.set(new_key, b"fresh", ttl=30)

    assert during == [None, None]
    assert redis_errors("get") == errors + 1
    assert "redis cache unavailable" in caplog.text
    assert await redis_cache.get(new_key) == b"fresh"


async def test_unresponsive_redis_times_out_fast_and_is_then_left_alone() -> None:
    with socket.socket() as silent:  # accepts connections, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        port = silent.getsockname()[1]
        cache = RedisCache(
            f"redis://127.0.0.1:{port}/0", timeout_seconds=0.1, retry_after_seconds=60
        )
        try:
            started = time.monotonic()
            first = await cache.tagged_key("search", ["from:JFK"])
            first_took = time.monotonic() - started
            started = time.monotonic()
            second = await cache.get("search")
            second_took = time.monotonic() - started
        finally:
            await cache.close()

    assert first is None and second is None
    assert first_took < 1.0
    assert second_took < 0.05  # not tried again within retry_after_seconds


async def test_tag_versions_never_repeat_within_a_process_or_after_a_fork(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    drawn = [cache_module._new_version() for _ in range(1000)]
    monkeypatch.setattr(cache_module.os, "getpid", lambda: 4242)  # a forked worker
    drawn += [cache_module._new_version() for _ in range(1000)]
    assert len(set(drawn)) == len(drawn)
    assert all("." not in version for version in drawn)  # keys join versions with dots
