"""A connection pool whose waiters are served first come, first served.

SQLAlchemy's async pool (`AsyncAdaptedQueuePool`) keeps its idle connections in an
`asyncio.Queue`. When a connection comes back and a request is waiting, the queue wakes that
request, but the connection stays in the queue until the woken task runs; any task that asks
for a connection in between (a request that has just arrived, with the event loop busy) takes
it without waiting, and the woken one finds the queue empty and waits again *at the back*.
Under a load that keeps every connection busy, a request could be passed over again and
again: with 32 searches on 10 connections (PostgreSQL), the pool wait was 0 ms at the median
but 0.5-0.9 s for the unluckiest, and those made the search's p99 (docs/ARCHITECTURE.md, "The
cost of a request").

`FairQueuePool` hands a returned connection straight to the oldest waiter: a request that
finds others waiting queues behind them. Checkout, timeouts and overflow are SQLAlchemy's
(`QueuePool`); only its queue is replaced (the pool's `_queue_class`, the hook the async
pool itself uses). A waiter that is cancelled (its client went away) or times out after it
was handed a connection gives it back, so the pool never shrinks.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any, TypeVar

from sqlalchemy.pool import AsyncAdaptedQueuePool
from sqlalchemy.util.concurrency import await_
from sqlalchemy.util.queue import AsyncAdaptedQueue, Empty, Full

_T = TypeVar("_T")


async def _wait(handoff: asyncio.Future[_T], seconds: float | None) -> _T:
    async with asyncio.timeout(seconds):  # None: no deadline
        return await handoff


class FairQueue(AsyncAdaptedQueue[_T]):
    """The pool's idle connections and, when there are none, its waiters in arrival order
    (SQLAlchemy's queue interface: `get`, `put`, their `_nowait` forms and the sizes)."""

    def __init__(self, maxsize: int = 0, use_lifo: bool = False) -> None:
        self.maxsize = maxsize
        self.use_lifo = use_lifo
        self._idle: deque[_T] = deque()
        self._waiters: deque[asyncio.Future[_T]] = deque()

    def empty(self) -> bool:
        return not self._idle

    def full(self) -> bool:
        return 0 < self.maxsize <= len(self._idle)

    def qsize(self) -> int:
        return len(self._idle)

    @property
    def waiting(self) -> int:
        """How many checkouts are waiting for a connection."""
        return sum(not waiter.done() for waiter in self._waiters)

    def put_nowait(self, item: _T) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():  # not timed out or cancelled meanwhile
                waiter.set_result(item)
                return
        if self.full():
            raise Full()
        self._idle.append(item)

    def put(self, item: _T, block: bool = True, timeout: float | None = None) -> None:
        self.put_nowait(item)  # the pool never holds more than its size: nothing to wait for

    def get_nowait(self) -> _T:
        if not self._idle:
            raise Empty()
        return self._idle.pop() if self.use_lifo else self._idle.popleft()

    def get(self, block: bool = True, timeout: float | None = None) -> _T:
        # An idle connection means nobody is waiting: `put_nowait` would have handed it over.
        if self._idle or not block:
            return self.get_nowait()
        handoff: asyncio.Future[_T] = asyncio.get_running_loop().create_future()
        self._waiters.append(handoff)
        try:
            return await_(_wait(handoff, timeout))
        except BaseException as exc:
            if handoff.done() and not handoff.cancelled():
                # Handed a connection in the same turn as the timeout or the cancellation.
                self.put_nowait(handoff.result())
            if isinstance(exc, TimeoutError):
                raise Empty() from None
            raise


class FairQueuePool(AsyncAdaptedQueuePool):
    """`AsyncAdaptedQueuePool` with waiters served in arrival order (`FairQueue`)."""

    _queue_class: Any = FairQueue

    def waiting(self) -> int:
        """How many checkouts are waiting for a connection."""
        queue = self._pool
        return queue.waiting if isinstance(queue, FairQueue) else 0
