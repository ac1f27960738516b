"""Wakes a background loop (outbox relay, refund worker) from any thread.

A commit hook calls `notify()`, possibly from a worker thread; the loop clears the signal
before each round and, between rounds, waits for it or for its polling interval.
"""

from __future__ import annotations

import asyncio
from contextlib import suppress


class Wakeup:
    def __init__(self) -> None:
        self._event = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None

    def bind(self) -> None:
        """Ties the signal to the running event loop (call when the loop's task starts)."""
        self._loop = asyncio.get_running_loop()

    def notify(self) -> None:
        """Wakes the loop now; thread-safe, and a no-op before `bind()`."""
        loop = self._loop
        if loop is None:
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._event.set()
        else:
            loop.call_soon_threadsafe(self._event.set)

    def clear(self) -> None:
        """A notify() from now on wakes the next wait()."""
        self._event.clear()

    async def wait(self, timeout: float) -> None:  # noqa: ASYNC109
        """Returns when notified or after `timeout` seconds."""
        with suppress(TimeoutError):
            await asyncio.wait_for(self._event.wait(), timeout)
