"""Search's read connections, kept checked out and lent in turn (`KeptConnections`).

Each checkout from SQLAlchemy's async pool and each return costs CPU: a greenlet switch
each way, a `Connection` and its pool record built and dropped, the pool's events and its
reset on return, and under load the wait for one. For a cold direct search on PostgreSQL that
was a fifth of the server's CPU: kept, 0.49 → 0.37 ms a search, 2,034 → 2,642 req/s, p99 21.1
→ 16.5 ms; a cold one-stop search on SQLite, 838 → 967 req/s, its fewer connections warmer
(docs/ARCHITECTURE.md, "The cost of a request"). SQLite's direct search reads on the one
connection brief reads share instead (platform/brief_reads.py).

`KeptConnections` keeps up to `keep` of the pool's connections once it has checked them
out (with the read options of `db.read_engine`: autocommit, read-only) and lends each to
one caller at a time. A caller takes the connection given back last (the warmest), or
checks out another while fewer than `keep` are held, or else waits for one to be given
back: in arrival order, up to the pool's own timeout, then SQLAlchemy's `TimeoutError` as
the pool would raise it. The pool's other connections serve everything else.

A connection goes back to the pool instead of being kept:
- when the block that used it raised: a failed read dropped it (as any connection's), and
  for anything else the pool's reset on return is the safe way. After a failed read the
  idle ones go back too: after a server's restart they are as dead, and the pool, marked by
  the failed read (`db.connection_lost`), reconnects each when next checked out;
- when callers wait for the pool: it is theirs (a search waiting here then checks out
  again, behind them);
- when it has sat idle `IDLE_BEFORE_PING_SECONDS`: the pool checks such a connection
  before use (the server may have restarted or cut it), and holds no more than it needs;
- after `close()` (shutdown).

One the server has ended is not lent again (asyncpg notices when the event loop reads the
connection's end); otherwise a kept connection is not checked before use: one the server
cuts before asyncpg has noticed fails its read, as a pooled one cut during a read does. So
only the primary's are kept (`ReadDatabase`): on the replica each checkout stays the test of
whether it answers. (A SQLite connection is a file: it is not ended under a reader.) Kept
connections belong to the event loop that first used them; in another loop callers check
out as before (`usable`).
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.pool import QueuePool

from flightdeck.platform.db import IDLE_BEFORE_PING_SECONDS, closed_under
from flightdeck.platform.pool import FairQueuePool


class KeptConnections:
    """Up to `keep` connections of `engine` (a `read_engine`, whose connections carry the
    read options from checkout), lent one caller at a time."""

    def __init__(self, engine: AsyncEngine, keep: int, *, timeout: float | None = None) -> None:
        self._engine = engine
        self._keep = keep
        pool = engine.sync_engine.pool
        if timeout is None:  # how long the pool's checkouts wait
            timeout = pool.timeout() if isinstance(pool, QueuePool) else 30.0
        self._timeout = timeout
        self._held = 0  # lent or idle
        self._idle: deque[tuple[AsyncConnection, float]] = deque()  # (connection, since)
        # Callers waiting, oldest first: handed a connection, or None to check one out.
        self._waiters: deque[asyncio.Future[AsyncConnection | None]] = deque()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False

    @property
    def held(self) -> int:
        """How many of the pool's connections it holds, lent or idle."""
        return self._held

    def usable(self) -> bool:
        """Whether it lends in the running event loop (the first that asked)."""
        loop = asyncio.get_running_loop()
        if self._loop is None:
            self._loop = loop
        return self._loop is loop and not self._closed

    @asynccontextmanager
    async def lend(self) -> AsyncIterator[AsyncConnection]:
        """A kept connection for the block (see the module's docstring)."""
        conn = await self._acquire()
        try:
            yield conn
        except BaseException as exc:
            failed = conn.invalidated
            self._held -= 1
            try:  # SQLAlchemy's close: it undoes what may be open, or drops the connection
                await conn.__aexit__(type(exc), exc, exc.__traceback__)
            finally:
                self._slot_freed()
            if failed:  # a read failed on it: the idle ones may be as dead
                while self._idle:
                    await self._release(self._idle.popleft()[0])
            raise
        await self._give_back(conn)

    async def close(self) -> None:
        """Gives the idle connections back to the pool; those lent go back when given back.
        Callers waiting check out as before."""
        self._closed = True
        while self._idle:
            await self._release(self._idle.popleft()[0])
        while self._waiters:
            self._slot_freed()

    async def _acquire(self) -> AsyncConnection:
        while self._idle:
            conn, since = self._idle.pop()
            if time.monotonic() - since < IDLE_BEFORE_PING_SECONDS and _open(conn):
                return conn
            await self._release(conn)
        if self._held < self._keep:
            self._held += 1  # a slot: check one out
        else:
            handed = await self._wait()  # a connection, or a slot held for this caller
            if handed is not None:
                return handed
        try:
            return await self._engine.connect().start()
        except BaseException:
            self._held -= 1
            self._slot_freed()
            raise

    async def _wait(self) -> AsyncConnection | None:
        handoff: asyncio.Future[AsyncConnection | None] = asyncio.get_running_loop().create_future()
        self._waiters.append(handoff)
        try:
            async with asyncio.timeout(self._timeout):
                return await handoff
        except BaseException as exc:
            if handoff.done() and not handoff.cancelled():
                # Handed a connection, or a slot, in the same turn as the timeout or the
                # cancellation: pass it on.
                handed = handoff.result()
                if handed is None:
                    self._held -= 1
                    self._slot_freed()
                else:
                    await self._give_back(handed)
            if isinstance(exc, TimeoutError):
                raise PoolTimeout("no kept read connection was given back in time") from None
            raise

    async def _give_back(self, conn: AsyncConnection) -> None:
        if self._closed or conn.invalidated or self._pool_waiting():
            await self._release(conn)
            return
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(conn)
                return
        now = time.monotonic()
        self._idle.append((conn, now))
        if now - self._idle[0][1] >= IDLE_BEFORE_PING_SECONDS:  # held longer than needed
            await self._release(self._idle.popleft()[0])

    async def _release(self, conn: AsyncConnection) -> None:
        """Back to the pool; the slot goes to the oldest caller waiting."""
        self._held -= 1
        try:
            await conn.close()
        finally:
            self._slot_freed()

    def _slot_freed(self) -> None:
        """A slot is free: it goes to the oldest caller waiting, who checks out."""
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                self._held += 1  # held for that caller (no one else takes it meanwhile)
                waiter.set_result(None)
                return

    def _pool_waiting(self) -> bool:
        pool = self._engine.sync_engine.pool
        return isinstance(pool, FairQueuePool) and pool.waiting() > 0


def _open(conn: AsyncConnection) -> bool:
    """Whether the connection may still read: not dropped, and not closed under it (asyncpg
    notices at once when the server ends a connection, a standby stopped or restarted)."""
    return not conn.invalidated and conn.sync_connection is not None and not closed_under(conn)
