"""The platform cache: bytes under string keys, with a time to live and tag invalidation.

Two implementations behind one interface: `MemoryCache` (in-process, the embedded default,
bounded in entries and in bytes: `FLIGHTDECK_CACHE_MEMORY_MEGABYTES`) and `RedisCache`
(`FLIGHTDECK_REDIS_URL`, shared by every instance).

Tags invalidate by versioning, not by finding keys: each tag has a version token stored in the
cache itself, and `tagged_key(base, tags)` embeds the current tokens of its tags in the key.
`invalidate_tags` gives a tag a new random token, so every key built under the old one is never
read again (it ages out by its TTL) on every instance at once. A lost token is harmless: a new
one is drawn, and the keys under the old one are simply misses.

The cache is an optimisation, never a dependency: a Redis outage is logged and counted
(`flightdeck_cache_errors_total`) and the caller falls through to the database.

Domains reach the cache configured at startup through `get_cache()`; flights invalidate with
`cache_invalidation.invalidate_tags(tags, session=session)`, which also repeats the
invalidation once the session's transaction commits (a search between the first invalidation
and the commit could otherwise cache the data of before the change).
"""

from __future__ import annotations

import itertools
import logging
import os
import secrets
import time
from abc import ABC, abstractmethod
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import ClassVar

import redis.asyncio as aioredis
from prometheus_client import Counter, Gauge
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from flightdeck.platform.settings import Settings

log = logging.getLogger(__name__)

CACHE_LOOKUPS = Counter(
    "flightdeck_cache_lookups_total", "Cache reads by result", ["backend", "result"]
)
CACHE_ERRORS = Counter(
    "flightdeck_cache_errors_total",
    "Cache operations that failed (the caller fell through to the database)",
    ["backend", "operation"],
)

_TAG_PREFIX = "tag:"
# How long a tag's version lives in Redis. Searches are tagged by airport and day (seats sold
# or released invalidate a day's), so versions would otherwise pile up, one per airport, end
# and day, for ever. One that expires only turns what was cached under it into misses.
TAG_SECONDS = 24 * 3600


# A tag's versions must never repeat (entries under an old version would come back), across
# processes and hosts sharing Redis: a random token drawn once per process, the process id (a
# forked worker shares its parent's token) and a counter. Drawing 6 random bytes per version
# (four per hold, two tags invalidated now and again at commit) was 4 % of a hold's CPU.
_version_source: tuple[int, str, Iterator[int]] | None = None


def _new_version() -> str:
    global _version_source
    pid = os.getpid()
    if _version_source is None or _version_source[0] != pid:
        _version_source = (pid, f"{secrets.token_hex(6)}-{pid:x}", itertools.count())
    _, prefix, counter = _version_source
    return f"{prefix}-{next(counter):x}"


def _versioned(base: str, versions: Sequence[str]) -> str:
    return f"{base}|{'.'.join(versions)}"


def _as_bytes(value: bytes | str | None) -> bytes | None:
    return value.encode() if isinstance(value, str) else value


class Cache(ABC):
    """Bytes by key with a TTL, plus tag versions. No method raises because the cache is down."""

    backend: ClassVar[str]

    @abstractmethod
    async def get(self, key: str) -> bytes | None:
        """The value, or None when absent, expired or the cache is unreachable."""

    @abstractmethod
    async def set(self, key: str, value: bytes, ttl: float) -> None:
        """Stores the value for `ttl` seconds (best effort)."""

    async def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        """The values of `keys`, in order (None where absent): one round trip where the
        backend allows it."""
        return [await self.get(key) for key in keys]

    async def set_many(self, values: dict[str, bytes], ttl: float) -> None:
        """Stores every value for `ttl` seconds (best effort)."""
        for key, value in values.items():
            await self.set(key, value, ttl)

    async def delete(self, keys: Sequence[str]) -> None:  # noqa: B027 - nothing to drop
        """Drops these keys now (best effort), on every instance sharing the cache."""

    @abstractmethod
    async def tagged_key(self, base: str, tags: Sequence[str]) -> str | None:
        """`base` extended with the current versions of `tags`; None when the cache is
        unreachable (then nothing should be cached or read)."""

    @abstractmethod
    async def invalidate_tags(self, tags: Iterable[str]) -> None:
        """Every key built under any of these tags becomes unreachable, on every instance."""

    async def invalidate_tag(self, tag: str) -> None:
        await self.invalidate_tags([tag])

    async def close(self) -> None:  # noqa: B027 - most caches hold no connection
        """Releases connections; the cache must not be used afterwards."""


class NullCache(Cache):
    """No cache: every read misses. In effect until `configure_cache` (CLI commands)."""

    backend = "none"

    async def get(self, key: str) -> bytes | None:
        return None

    async def set(self, key: str, value: bytes, ttl: float) -> None:
        return None

    async def tagged_key(self, base: str, tags: Sequence[str]) -> str | None:
        return None

    async def invalidate_tags(self, tags: Iterable[str]) -> None:
        return None


class MemoryCache(Cache):
    """In-process, least-recently-used cache with per-entry TTL, held within `max_entries`
    entries and `max_bytes` bytes of keys and values (tag versions included). Only this
    process sees it.

    The bytes bound is what keeps memory flat as the network grows: a one-stop answer at
    100,000 flights is ~93 KB (~11 KB at 10,000), and the 10,000 entries held 588 MB of
    them (docs/ARCHITECTURE.md, "The cost of a request"). A value larger than the whole
    budget is not kept (its key's older value is dropped). An entry evicted early is only a
    miss; a tag version evicted is drawn anew, and the entries under the old one are misses
    too."""

    backend = "memory"

    def __init__(
        self,
        max_entries: int = 10_000,
        *,
        max_bytes: int | None = None,
        timer: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        if max_bytes is not None and max_bytes < 1:
            raise ValueError("max_bytes must be at least 1")
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self._timer = timer
        # key -> (expires at on `timer`, or None for never; value)
        self._entries: OrderedDict[str, tuple[float | None, bytes]] = OrderedDict()
        self._bytes = 0  # of every key and value held

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def memory_bytes(self) -> int:
        """The bytes of the keys and values held (what `max_bytes` bounds)."""
        return self._bytes

    def _drop(self, key: str) -> None:
        entry = self._entries.pop(key, None)
        if entry is not None:
            self._bytes -= len(key) + len(entry[1])

    def _read(self, key: str) -> bytes | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        expires_at, value = entry
        if expires_at is not None and expires_at <= self._timer():
            self._drop(key)
            return None
        self._entries.move_to_end(key)
        return value

    def _write(self, key: str, value: bytes, ttl: float | None) -> None:
        self._drop(key)
        size = len(key) + len(value)
        if self.max_bytes is not None and size > self.max_bytes:
            return  # it would push out everything else, and then not fit
        expires_at = None if ttl is None else self._timer() + ttl
        self._entries[key] = (expires_at, value)
        self._bytes += size
        while len(self._entries) > self.max_entries or (
            self.max_bytes is not None and self._bytes > self.max_bytes
        ):
            oldest, (_, dropped) = self._entries.popitem(last=False)
            self._bytes -= len(oldest) + len(dropped)

    async def get(self, key: str) -> bytes | None:
        value = self._read(key)
        CACHE_LOOKUPS.labels(self.backend, "miss" if value is None else "hit").inc()
        return value

    async def set(self, key: str, value: bytes, ttl: float) -> None:
        if ttl > 0:
            self._write(key, value, ttl)

    async def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        values = [self._read(key) for key in keys]
        hits = sum(value is not None for value in values)
        CACHE_LOOKUPS.labels(self.backend, "hit").inc(hits)
        CACHE_LOOKUPS.labels(self.backend, "miss").inc(len(values) - hits)
        return values

    async def delete(self, keys: Sequence[str]) -> None:
        for key in keys:
            self._drop(key)

    async def tagged_key(self, base: str, tags: Sequence[str]) -> str | None:
        versions = []
        for tag in tags:
            version = self._read(_TAG_PREFIX + tag)
            if version is None:
                version = _new_version().encode()
                self._write(_TAG_PREFIX + tag, version, None)
            versions.append(version.decode())
        return _versioned(base, versions)

    async def invalidate_tags(self, tags: Iterable[str]) -> None:
        for tag in tags:
            self._write(_TAG_PREFIX + tag, _new_version().encode(), None)

    def clear(self) -> None:
        self._entries.clear()
        self._bytes = 0


class RedisCache(Cache):
    """Redis through `redis.asyncio`, shared by every instance.

    Failures (connection refused, timeouts, any Redis error) are logged once per outage,
    counted, and answered as a miss or a no-op. After a failure reads and writes leave Redis
    alone for `retry_after_seconds`, so an unreachable server does not add its timeout to
    every request; invalidations are always attempted.
    """

    backend = "redis"

    def __init__(
        self,
        url: str,
        *,
        prefix: str = "flightdeck:",
        timeout_seconds: float = 0.25,
        retry_after_seconds: float = 1.0,
    ) -> None:
        self.prefix = prefix
        self.retry_after_seconds = retry_after_seconds
        self._failed_at: float | None = None
        self._client: aioredis.Redis = aioredis.Redis.from_url(
            url,
            socket_timeout=timeout_seconds,
            socket_connect_timeout=timeout_seconds,
            retry=Retry(NoBackoff(), 0),  # one attempt: the database is the fallback
        )

    def _available(self) -> bool:
        failed_at = self._failed_at
        return failed_at is None or time.monotonic() >= failed_at + self.retry_after_seconds

    def _failed(self, operation: str, exc: Exception) -> None:
        CACHE_ERRORS.labels(self.backend, operation).inc()
        if self._available():
            log.warning("redis cache unavailable (%s: %s); using the database", operation, exc)
        self._failed_at = time.monotonic()

    async def get(self, key: str) -> bytes | None:
        value: bytes | None = None
        if self._available():
            try:
                value = _as_bytes(await self._client.get(self.prefix + key))
            except (RedisError, OSError) as exc:
                self._failed("get", exc)
        CACHE_LOOKUPS.labels(self.backend, "miss" if value is None else "hit").inc()
        return value

    async def set(self, key: str, value: bytes, ttl: float) -> None:
        if ttl <= 0 or not self._available():
            return
        try:
            await self._client.set(self.prefix + key, value, px=max(int(ttl * 1000), 1))
        except (RedisError, OSError) as exc:
            self._failed("set", exc)

    async def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        values: list[bytes | None] = [None] * len(keys)
        if keys and self._available():
            try:
                found = await self._client.mget([self.prefix + key for key in keys])
                values = [_as_bytes(value) for value in found]
            except (RedisError, OSError) as exc:
                self._failed("get", exc)
        hits = sum(value is not None for value in values)
        CACHE_LOOKUPS.labels(self.backend, "hit").inc(hits)
        CACHE_LOOKUPS.labels(self.backend, "miss").inc(len(values) - hits)
        return values

    async def set_many(self, values: dict[str, bytes], ttl: float) -> None:
        if ttl <= 0 or not values or not self._available():
            return
        try:
            async with self._client.pipeline(transaction=False) as pipe:
                for key, value in values.items():
                    pipe.set(self.prefix + key, value, px=max(int(ttl * 1000), 1))
                await pipe.execute()
        except (RedisError, OSError) as exc:
            self._failed("set", exc)

    async def delete(self, keys: Sequence[str]) -> None:
        if not keys:
            return
        try:
            await self._client.delete(*(self.prefix + key for key in keys))
        except (RedisError, OSError) as exc:
            self._failed("delete", exc)

    async def tagged_key(self, base: str, tags: Sequence[str]) -> str | None:
        if not self._available():
            return None
        if not tags:
            return _versioned(base, [])
        names = [self.prefix + _TAG_PREFIX + tag for tag in tags]
        try:
            versions = [_as_bytes(v) for v in await self._client.mget(names)]
            missing = [name for name, version in zip(names, versions, strict=True) if not version]
            if missing:
                # Whoever sets a missing tag first wins; everyone then reads the winner.
                async with self._client.pipeline(transaction=False) as pipe:
                    for name in missing:
                        pipe.set(name, _new_version(), nx=True, ex=TAG_SECONDS)
                    pipe.mget(names)
                    *_, reread = await pipe.execute()
                versions = [_as_bytes(v) for v in reread]
        except (RedisError, OSError) as exc:
            self._failed("tagged_key", exc)
            return None
        if self._failed_at is not None:
            log.info("redis cache reachable again")
            self._failed_at = None
        if not all(versions):
            return None  # a tag vanished between the two reads: do not cache this time
        return _versioned(base, [v.decode() for v in versions if v is not None])

    async def invalidate_tags(self, tags: Iterable[str]) -> None:
        names = [self.prefix + _TAG_PREFIX + tag for tag in tags]
        if not names:
            return
        try:
            async with self._client.pipeline(transaction=False) as pipe:
                for name in names:
                    pipe.set(name, _new_version(), ex=TAG_SECONDS)
                await pipe.execute()
        except (RedisError, OSError) as exc:
            # Entries under the old versions may be served until their TTL runs out.
            self._failed("invalidate", exc)

    async def ping(self) -> None:
        """Raises when Redis does not answer (readiness); requests never depend on it."""
        await self._client.ping()

    async def close(self) -> None:
        await self._client.aclose()


def create_cache(settings: Settings) -> Cache:
    """Redis when `redis_url` is set, else the in-process cache (within
    `cache_memory_megabytes`)."""
    if settings.redis_url:
        return RedisCache(settings.redis_url)
    return MemoryCache(max_bytes=int(settings.cache_memory_megabytes * 1024 * 1024))


# --- the process's cache -----------------------------------------------------------------

_NO_CACHE = NullCache()
_cache: Cache = _NO_CACHE


def configure_cache(cache: Cache | None) -> Cache:
    """Makes `cache` the one `get_cache()` returns (None: no cache); returns the previous one,
    which the app's lifespan puts back when it ends."""
    global _cache
    previous, _cache = _cache, _NO_CACHE if cache is None else cache
    return previous


def get_cache() -> Cache:
    return _cache


CACHE_MEMORY_BYTES = Gauge(
    "flightdeck_cache_memory_bytes",
    "Bytes of keys and values the in-process cache holds (0 with Redis or no cache)",
)
CACHE_MEMORY_BYTES.set_function(lambda: getattr(_cache, "memory_bytes", 0))
