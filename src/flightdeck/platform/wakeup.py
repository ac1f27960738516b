"""Waking a background loop (outbox relay, refund worker) when a commit gave it work; the
loop itself is a `BackgroundWorker` (worker.py), which uses both classes.

`CommitSignal`: a service marks its session when it writes work for the loop; after that
session commits, the listeners run. `Wakeup`: a listener calls `notify()`, possibly from a
worker thread; the loop clears it before each round and, between rounds, waits for it or for
its polling interval.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from contextlib import suppress

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session


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


class CommitSignal:
    """Calls its listeners after the commit of a session that `mark()`ed it (a rollback
    forgets the mark): how a commit that wrote work for a background loop wakes it."""

    def __init__(self, name: str) -> None:
        self._key = f"flightdeck.commit_signal.{name}"
        self._listeners: list[Callable[[], None]] = []
        event.listen(Session, "after_commit", self._after_commit)
        event.listen(Session, "after_rollback", self._after_rollback)

    def mark(self, session: AsyncSession | Session) -> None:
        session.info[self._key] = True

    def add_listener(self, listener: Callable[[], None]) -> None:
        self._listeners.append(listener)

    def remove_listener(self, listener: Callable[[], None]) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)

    def _after_commit(self, session: Session) -> None:
        if session.info.pop(self._key, False):
            for listener in list(self._listeners):
                listener()

    def _after_rollback(self, session: Session) -> None:
        session.info.pop(self._key, None)
