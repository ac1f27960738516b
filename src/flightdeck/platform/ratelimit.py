"""Rate limiting on the `limits` library: in-process by default, Redis when configured."""

from __future__ import annotations

import math
import time

from limits import RateLimitItemPerSecond
from limits.aio.storage import MemoryStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter

from flightdeck.platform.errors import TooManyRequests


class FailureThrottle:
    """Counts failures per key in a moving window; past the limit, callers get 429."""

    def __init__(self, max_failures: int, window_seconds: int, storage: Storage | None = None):
        self.item = RateLimitItemPerSecond(max_failures, window_seconds)
        self.limiter = MovingWindowRateLimiter(storage or MemoryStorage())
        self.max_failures = max_failures

    async def failures(self, key: str) -> int:
        stats = await self.limiter.get_window_stats(self.item, key)
        return self.max_failures - stats.remaining

    async def ensure_allowed(self, *keys: str) -> None:
        """Raises 429 with `Retry-After` when any key has used up its failures."""
        for key in keys:
            if not await self.limiter.test(self.item, key):
                stats = await self.limiter.get_window_stats(self.item, key)
                retry_after = max(1, math.ceil(stats.reset_time - time.time()))
                raise TooManyRequests(
                    "Too many failed attempts; try again later",
                    code="too_many_attempts",
                    details={"retry_after_seconds": retry_after},
                    headers={"Retry-After": str(retry_after)},
                )

    async def record_failure(self, *keys: str) -> None:
        for key in keys:
            await self.limiter.hit(self.item, key)

    async def reset(self, *keys: str) -> None:
        for key in keys:
            await self.limiter.clear(self.item, key)
