"""Rate-limit counters on the `limits` library: one storage per process, shared by every limit.

`create_rate_limit_storage(settings)` gives Redis (limits' `redispy` implementation on redis-py's
asyncio client) when `FLIGHTDECK_REDIS_URL` is set, so every instance counts together, else an
in-process storage. The Redis one is wrapped in `FallbackStorage`: while Redis fails, counts go
to an in-process storage instead (each instance then limits on its own), the switch is counted
in `flightdeck_rate_limit_fallbacks_total`, and no request fails because of it.

Built on the storage: `FailureThrottle` (failures in a moving window, then 429), `IntervalGate`
(one admission per interval) and `ExpiringFlags` (remembered keys with a lifetime).
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from limits import RateLimitItemPerSecond
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.storage.base import MovingWindowSupport, SlidingWindowCounterSupport
from limits.aio.strategies import MovingWindowRateLimiter
from limits.errors import StorageError
from prometheus_client import Counter
from redis.asyncio import ConnectionPool
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from flightdeck.platform.errors import TooManyRequests
from flightdeck.platform.settings import Settings

log = logging.getLogger(__name__)

RATE_LIMIT_FALLBACKS = Counter(
    "flightdeck_rate_limit_fallbacks_total",
    "Rate-limit operations counted in-process because the shared storage (Redis) failed",
    ["operation"],
)

T = TypeVar("T")
_STORAGE_FAILURES = (StorageError, RedisError, OSError, asyncio.TimeoutError)
KEY_PREFIX = "flightdeck:limits"


# How often the in-process storage's expiry pass may run (see InProcessStorage), and limits'
# own scheduling of it (private to MemoryStorage: the name it mangles to).
EXPIRY_PASS_SECONDS = 1.0
_schedule_expiry_pass: Callable[[MemoryStorage], Awaitable[None]] = getattr(  # noqa: B009
    MemoryStorage, "_MemoryStorage__schedule_expiry"
)


class InProcessStorage(MemoryStorage):
    """limits' in-process storage, made safe to clear while its expiry pass runs, and with
    that pass run at most once a second.

    That pass (a background task) lists the keys with moving-window entries, then reads each
    after awaits; a key cleared in between made it die with a KeyError. A cleared key keeps an
    empty entry list instead, which the pass simply drops.

    limits starts the pass on every count (a new task, and a thread hop per moving-window key):
    ~6 % of a request's CPU under load, three counts per request. It only frees memory (every
    read checks expiry itself), so once a second is enough.
    """

    def __init__(self) -> None:
        super().__init__()
        self._next_expiry_pass = 0.0

    async def _MemoryStorage__schedule_expiry(self) -> None:  # noqa: N802 - limits' own name
        now = time.monotonic()
        if now >= self._next_expiry_pass:
            self._next_expiry_pass = now + EXPIRY_PASS_SECONDS
            await _schedule_expiry_pass(self)

    async def clear(self, key: str) -> None:
        had_entries = key in self.events
        await super().clear(key)
        if had_entries:
            self.events[key] = []

    async def reset(self) -> int | None:
        keys = list(self.events)
        removed = await super().reset()
        self.events.update({key: [] for key in keys})
        return removed


AnyStorage = RedisStorage | InProcessStorage


class FallbackStorage(Storage, MovingWindowSupport, SlidingWindowCounterSupport):
    """`primary` (Redis) while it answers; an in-process storage while it fails.

    After a failure the primary is left alone for `retry_after_seconds`, so an unreachable
    server does not add its timeout to every request, then tried again.
    """

    STORAGE_SCHEME = None  # not registered under a URI scheme: built by hand

    def __init__(
        self,
        primary: RedisStorage,
        *,
        pool: ConnectionPool | None = None,
        retry_after_seconds: float = 1.0,
    ) -> None:
        super().__init__()
        self.primary = primary
        self.fallback = InProcessStorage()
        self.retry_after_seconds = retry_after_seconds
        self._pool = pool
        self._failed_at: float | None = None

    @property
    def base_exceptions(self) -> tuple[type[Exception], ...]:
        return ()  # nothing escapes: failures are answered by the fallback

    @property
    def using_fallback(self) -> bool:
        failed_at = self._failed_at
        return failed_at is not None and time.monotonic() < failed_at + self.retry_after_seconds

    async def _call(self, operation: str, call: Callable[[AnyStorage], Awaitable[T]]) -> T:
        if not self.using_fallback:
            try:
                result = await call(self.primary)
            except _STORAGE_FAILURES as exc:
                if self._failed_at is None:
                    log.warning("rate-limit storage unavailable (%s: %s); counting in-process",
                                operation, exc)  # fmt: skip
                self._failed_at = time.monotonic()
            else:
                if self._failed_at is not None:
                    log.info("rate-limit storage reachable again")
                    self._failed_at = None
                return result
        RATE_LIMIT_FALLBACKS.labels(operation).inc()
        return await call(self.fallback)

    async def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        return await self._call("incr", lambda s: s.incr(key, expiry, amount))

    async def get(self, key: str) -> int:
        return await self._call("get", lambda s: s.get(key))

    async def get_expiry(self, key: str) -> float:
        return await self._call("get_expiry", lambda s: s.get_expiry(key))

    async def check(self) -> bool:
        return await self.primary.check()

    async def reset(self) -> int | None:
        await self.fallback.reset()
        return await self._call("reset", lambda s: s.reset())

    async def clear(self, key: str) -> None:
        await self._call("clear", lambda s: s.clear(key))

    async def acquire_entry(self, key: str, limit: int, expiry: int, amount: int = 1) -> bool:
        return await self._call(
            "acquire_entry", lambda s: s.acquire_entry(key, limit, expiry, amount)
        )

    async def get_moving_window(self, key: str, limit: int, expiry: int) -> tuple[float, int]:
        return await self._call(
            "get_moving_window", lambda s: s.get_moving_window(key, limit, expiry)
        )

    async def acquire_sliding_window_entry(
        self, key: str, limit: int, expiry: int, amount: int = 1
    ) -> bool:
        return await self._call(
            "acquire_sliding_window_entry",
            lambda s: s.acquire_sliding_window_entry(key, limit, expiry, amount),
        )

    async def get_sliding_window(self, key: str, expiry: int) -> tuple[int, float, int, float]:
        return await self._call("get_sliding_window", lambda s: s.get_sliding_window(key, expiry))

    async def clear_sliding_window(self, key: str, expiry: int) -> None:
        await self._call("clear_sliding_window", lambda s: s.clear_sliding_window(key, expiry))

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.aclose()


def _limits_uri(redis_url: str) -> str:
    """`redis://h:6379/0` → `async+redis://h:6379/0` (limits' scheme for its asyncio storages)."""
    if redis_url.startswith("unix://"):
        return "async+redis+unix://" + redis_url.removeprefix("unix://")
    return "async+" + redis_url


def create_rate_limit_storage(settings: Settings) -> Storage:
    """Redis (with the in-process fallback) when `redis_url` is set, else in-process only."""
    if not settings.redis_url:
        return InProcessStorage()
    timeout_seconds = settings.rate_limit_storage_timeout_seconds
    # Our own pool, so shutdown can close it; one attempt per call, short timeouts: the
    # fallback answers instead of a slow Redis.
    pool = ConnectionPool.from_url(
        settings.redis_url,
        socket_timeout=timeout_seconds,
        socket_connect_timeout=timeout_seconds,
        retry=Retry(NoBackoff(), 0),
    )
    options: dict[str, Any] = {"connection_pool": pool}
    redis = RedisStorage(
        _limits_uri(settings.redis_url),
        implementation="redispy",
        wrap_exceptions=True,
        key_prefix=KEY_PREFIX,
        **options,
    )
    return FallbackStorage(redis, pool=pool)


async def close_rate_limit_storage(storage: Storage) -> None:
    if isinstance(storage, FallbackStorage):
        await storage.close()


def seconds_until(instant: float) -> int:
    """Whole seconds from now until a `time.time()` instant, at least 1 (for Retry-After)."""
    return max(1, math.ceil(instant - time.time()))


class TooManyAttempts(TooManyRequests):
    """Failed attempts (sign-in, current password) used up; a 429 of its own code."""

    code = "too_many_attempts"
    message = "Too many failed attempts; try again later"


def too_many_attempts(retry_after: int, **details: int) -> TooManyAttempts:
    """429 `too_many_attempts` with `Retry-After` (and `details` beside the wait)."""
    return TooManyAttempts(
        details={"retry_after_seconds": retry_after, **details},
        headers={"Retry-After": str(retry_after)},
    )


class FailureThrottle:
    """Counts failures per key in a moving window; past the limit, callers get 429."""

    def __init__(self, max_failures: int, window_seconds: int, storage: Storage):
        self.item = RateLimitItemPerSecond(max_failures, window_seconds)
        self.limiter = MovingWindowRateLimiter(storage)
        self.max_failures = max_failures

    async def failures(self, key: str) -> int:
        stats = await self.limiter.get_window_stats(self.item, key)
        return self.max_failures - stats.remaining

    async def ensure_allowed(self, *keys: str) -> None:
        """Raises 429 with `Retry-After` when any key has used up its failures."""
        for key in keys:
            if not await self.limiter.test(self.item, key):
                stats = await self.limiter.get_window_stats(self.item, key)
                raise too_many_attempts(seconds_until(stats.reset_time))

    async def record_failure(self, *keys: str) -> None:
        for key in keys:
            await self.limiter.hit(self.item, key)

    async def reset(self, *keys: str) -> None:
        for key in keys:
            await self.limiter.clear(self.item, key)


class IntervalGate:
    """Admits one caller per key per interval, atomically across instances (one counter that
    lives `seconds`: whoever makes it 1 is admitted)."""

    def __init__(self, storage: Storage, namespace: str) -> None:
        self.storage = storage
        self.namespace = namespace

    async def admit(self, key: str, seconds: int) -> int | None:
        """None when admitted; else whole seconds until the gate opens again."""
        full_key = f"{self.namespace}/{key}"
        if await self.storage.incr(full_key, seconds) == 1:
            return None
        return seconds_until(await self.storage.get_expiry(full_key))


class ExpiringFlags:
    """Keys remembered for a while (e.g. the addresses an account signed in from)."""

    def __init__(self, storage: Storage, namespace: str) -> None:
        self.storage = storage
        self.namespace = namespace

    async def remember(self, key: str, seconds: int) -> None:
        """Sets the flag for `seconds` from now (again from now if it was set)."""
        full_key = f"{self.namespace}/{key}"
        await self.storage.clear(full_key)
        await self.storage.incr(full_key, seconds)

    async def is_set(self, key: str) -> bool:
        return await self.storage.get(f"{self.namespace}/{key}") > 0
