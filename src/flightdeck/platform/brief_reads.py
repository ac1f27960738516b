"""SQLite's brief reads share one connection, kept open (`SharedBriefConnection`).

A brief read (`CompiledRead(brief=True)`: an indexed read whose rows are bounded by the
answer, a direct search's statement) runs on SQLite in the event loop's thread, start to
finish without awaiting anything (platform/sqlite_driver.read_in_loop): two such reads can
never interleave, so they need no connection each. Checking one out of the pool and back for
every direct search cost more than the read itself: two greenlet switches, the pool's queue,
a connection object, and, the pool handing out its ten connections in turn, SQLite's page
cache and prepared statement spread over ten connections instead of one, each colder in the
processor's caches. Cold direct searches on SQLite, alternating runs of one server each
(docs/ARCHITECTURE.md, "The cost of a request"): 1,702 → 2,463 req/s, p99 26.6 → 18.1 ms.

The connection is checked out of the app's pool once, on first use, with the read options
(`db.read_engine`'s) and `SHARED_BRIEF` set, and closed at shutdown. Only a brief
`CompiledRead` may run on it: `CompiledRead.rows` refuses any other read there, and the
search asks for it only for a direct-only search (one brief read; the punctuality its
cache lacks is read on a connection search keeps, platform/kept_reads.py). A read that
fails drops it (as any connection's); the next read opens another. It belongs to the event
loop that opened it: in another loop there is none (`get` answers None and the caller checks
out as before).
On any other database there is none (asyncpg's reads await the server), nor where the pool
has no other connection (`ReadDatabase`: it would hold the only one for good).
"""

from __future__ import annotations

import asyncio

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from flightdeck.platform.db import SHARED_BRIEF
from flightdeck.platform.sqlite_driver import loop_connection


class SharedBriefConnection:
    """One connection of `engine` for brief reads in the event loop: a `read_engine`, whose
    connections carry the read options from checkout (autocommit, read-only)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._conn: AsyncConnection | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._opening: asyncio.Lock | None = None

    async def get(self) -> AsyncConnection | None:
        """The shared connection (opened on first use); None in a loop other than the one
        that opened it, or when the driver cannot read in the loop's thread."""
        loop = asyncio.get_running_loop()
        if self._loop is not None and self._loop is not loop:
            return None
        conn = self._conn
        if conn is not None and not conn.invalidated:
            return conn
        if self._opening is None:
            self._opening = asyncio.Lock()
        async with self._opening:
            if self._conn is not None and not self._conn.invalidated:
                return self._conn
            if self._conn is not None:  # dropped after a failed read: give its slot back
                await self._conn.close()
                self._conn = None
            conn = await self._engine.connect().start()
            raw = await conn.get_raw_connection()
            if loop_connection(raw.driver_connection) is None:
                await conn.close()
                return None
            await conn.execution_options(**{SHARED_BRIEF: True})
            self._conn, self._loop = conn, loop
            return conn

    async def close(self) -> None:
        """Gives the connection back to the pool (at shutdown, before the engine is
        disposed)."""
        conn, self._conn, self._loop = self._conn, None, None
        if conn is not None:
            await conn.close()
