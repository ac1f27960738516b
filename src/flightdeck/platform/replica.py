"""Reads that may lag the primary a little go to the read replica; everything else to the primary.

`FLIGHTDECK_DATABASE_REPLICA_URL` names a PostgreSQL streaming standby. Routes whose answer may
be a moment old (search, flight listings, seat maps, reports) take a `ReadSession` (or open
`ReadDatabase.connect()` for Core reads); everything that writes, and a read that must see the
caller's own write (a booking just made), keeps the request's `DbSession` on the primary.

The replica is an optimisation, never a dependency. A read goes to the primary instead, counted
in `flightdeck_replica_reads_total{target="primary",reason}`, when:
- `unreachable`: connecting to the replica failed just now (then it is left alone for
  `database_replica_retry_seconds`, reason `down`);
- `lagging`: the monitor (a background worker in every process with a replica) found it more
  than `database_replica_max_lag_seconds` behind.

The monitor measures the lag as the primary sees it: every check it notes the primary's WAL
position and when it read it, and a position is replayed once the replica's replay position
passes it; the lag is the age of the oldest position not yet replayed (zero when the replica
has caught up, however idle the primary). `flightdeck_replica_lag_seconds` and
`flightdeck_replica_lag_bytes` publish it.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Annotated

from fastapi import Depends, Request
from prometheus_client import Counter, Gauge
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from flightdeck.platform.brief_reads import SharedBriefConnection
from flightdeck.platform.db import (
    ASYNCPG_CONNECT_ARGS,
    READ_ONLY,
    create_sessionmaker,
    read_connection,
    read_engine,
)
from flightdeck.platform.kept_reads import KeptConnections
from flightdeck.platform.pool import FairQueuePool
from flightdeck.platform.settings import Settings
from flightdeck.platform.worker import BackgroundWorker

log = logging.getLogger(__name__)

REPLICA_READS = Counter(
    "flightdeck_replica_reads_total",
    "Reads meant for the replica, by where they went and why",
    ["target", "reason"],
)
REPLICA_LAG_SECONDS = Gauge(
    "flightdeck_replica_lag_seconds", "How far the read replica is behind the primary (seconds)"
)
REPLICA_LAG_BYTES = Gauge(
    "flightdeck_replica_lag_bytes", "WAL the read replica has yet to replay (bytes)"
)
REPLICA_IN_USE = Gauge("flightdeck_replica_in_use", "1 while reads go to the read replica")

# What may go wrong reaching a server: refused, reset, timed out, or the driver's own errors.
CONNECTION_FAILURES = (OSError, TimeoutError, SQLAlchemyError)
CONNECT_TIMEOUT_SECONDS = 2.0


def parse_lsn(lsn: str) -> int:
    """A PostgreSQL WAL position ("16/B374D848") as a byte offset."""
    high, low = lsn.split("/")
    return (int(high, 16) << 32) | int(low, 16)


def create_replica_engine(settings: Settings) -> AsyncEngine:
    return create_async_engine(
        settings.database_replica_url,
        echo=settings.database_echo,
        poolclass=FairQueuePool,
        pool_size=settings.database_pool_size,
        max_overflow=settings.database_pool_size * 2,
        pool_pre_ping=True,  # a pooled connection to a replica that went away is noticed
        connect_args={**ASYNCPG_CONNECT_ARGS, "timeout": CONNECT_TIMEOUT_SECONDS},
    )


class ReadDatabase:
    """Where lag-tolerant reads go: the replica while it is usable, else the primary."""

    def __init__(
        self,
        settings: Settings,
        primary: AsyncEngine,
        replica: AsyncEngine | None = None,
        *,
        like: async_sessionmaker[AsyncSession] | None = None,
    ) -> None:
        self.settings = settings
        # The app's sessionmaker: read sessions carry what was bound to its sessions' `info`
        # at start-up (e.g. which booking store serves them), as the app's own sessions do.
        self._like = like
        self.primary = primary
        self.replica = replica
        # `connect`'s engines: the same pools, with the read options set at checkout.
        self._primary_reads = read_engine(primary)
        self._replica_reads = read_engine(replica) if replica is not None else None
        self._primary_sessions = create_sessionmaker(primary)
        self._replica_sessions: async_sessionmaker[AsyncSession] | None = (
            create_sessionmaker(replica) if replica is not None else None
        )
        # SQLite: the one connection brief reads share (`brief_connection`), one of the pool's
        # when it has others for everything else (an in-memory database has one, static).
        shares = (
            primary.dialect.name == "sqlite"
            and isinstance(primary.sync_engine.pool, FairQueuePool)
            and settings.database_pool_size > 1
        )
        self._brief = SharedBriefConnection(self._primary_reads) if shares else None
        # The primary's connections search keeps (`connect(kept=True)`), leaving the pool one
        # besides for everything else (and besides SQLite's shared one). None of the
        # replica's: there each checkout is the test of whether it answers.
        pooled = primary.dialect.name == "postgresql" or shares
        keep = min(
            settings.database_search_connections,
            settings.database_pool_size - 1 - (self._brief is not None),
        )
        self._kept = KeptConnections(self._primary_reads, keep) if pooled and keep > 0 else None
        self._down_until = 0.0
        self.lagging = False
        # (primary WAL position, when it was read) not yet replayed by the replica.
        self._unreplayed: deque[tuple[int, float]] = deque()
        REPLICA_IN_USE.set(1 if replica is not None else 0)

    def _avoid_reason(self) -> str | None:
        """Why the replica is not to be used now (None: use it)."""
        if self.lagging:
            return "lagging"
        if time.monotonic() < self._down_until:
            return "down"
        return None

    def mark_unreachable(self, exc: BaseException) -> None:
        if time.monotonic() >= self._down_until:
            log.warning("read replica unreachable (%s); reading from the primary", exc)
        self._down_until = time.monotonic() + self.settings.database_replica_retry_seconds
        REPLICA_IN_USE.set(0)

    def _went_to_primary(self, reason: str) -> None:
        if self.replica is not None:
            REPLICA_READS.labels("primary", reason).inc()

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A read-only session on the replica or, when it cannot serve, the primary."""
        session = await self._open_session()
        try:
            yield session
        finally:
            await session.close()  # nothing was written: closing ends the transaction

    async def _open_session(self) -> AsyncSession:
        reason = self._avoid_reason()
        if self._replica_sessions is not None and reason is None:
            session = self._with_info(self._replica_sessions())
            try:
                await session.connection()
            except CONNECTION_FAILURES as exc:
                await session.close()
                self.mark_unreachable(exc)
                reason = "unreachable"
            else:
                REPLICA_READS.labels("replica", "ok").inc()
                return session
        self._went_to_primary(reason or "none")
        session = self._with_info(self._primary_sessions())
        await session.connection(execution_options={READ_ONLY: True})
        return session

    def _with_info(self, session: AsyncSession) -> AsyncSession:
        if self._like is not None:
            session.info.update(self._like.kw.get("info") or {})
        return session

    @asynccontextmanager
    async def connect(self, *, kept: bool = False) -> AsyncIterator[AsyncConnection]:
        """A connection for Core reads (`platform.db.read_connection`: autocommit, each
        statement its own snapshot), on the replica or, when it cannot serve, the primary.
        One checkout: the replica's is the test of whether it answers. `kept`: search's; on
        the primary, one of the connections it keeps (platform/kept_reads.py)."""
        async with AsyncExitStack() as stack:
            reason = self._avoid_reason()
            if self._replica_reads is not None and reason is None:
                try:
                    conn = await stack.enter_async_context(read_connection(self._replica_reads))
                except CONNECTION_FAILURES as exc:
                    self.mark_unreachable(exc)
                    reason = "unreachable"
                else:
                    REPLICA_READS.labels("replica", "ok").inc()
                    yield conn
                    return
            self._went_to_primary(reason or "none")
            keeper = self._kept if kept else None
            if keeper is not None and keeper.usable():
                yield await stack.enter_async_context(keeper.lend())
            else:
                yield await stack.enter_async_context(read_connection(self._primary_reads))

    async def brief_connection(self) -> AsyncConnection | None:
        """On SQLite, the connection its brief reads share (platform/brief_reads.py: only a
        brief `CompiledRead` may run on it, never closed by the caller); None elsewhere, or
        when it cannot be had in this event loop: then `connect()`."""
        return None if self._brief is None else await self._brief.get()

    async def close(self) -> None:
        """Gives back what it holds of the pool (the shared brief connection, the connections
        search keeps), before the engine is disposed."""
        if self._brief is not None:
            await self._brief.close()
        if self._kept is not None:
            await self._kept.close()

    async def check(self) -> None:
        """One round of the monitor: the replica's lag, and whether reads may go there."""
        if self.replica is None:
            return
        try:  # the replica first: read after it, the primary's position can only be ahead
            async with self.replica.connect() as conn:
                replayed = await conn.scalar(text("SELECT pg_last_wal_replay_lsn()::text"))
        except CONNECTION_FAILURES as exc:
            self.mark_unreachable(exc)
            raise
        async with self.primary.connect() as conn:
            primary_lsn = parse_lsn(
                str(await conn.scalar(text("SELECT pg_current_wal_insert_lsn()::text")))
            )
        now = time.monotonic()
        self._unreplayed.append((primary_lsn, now))
        replayed_lsn = parse_lsn(str(replayed)) if replayed is not None else 0
        while self._unreplayed and self._unreplayed[0][0] <= replayed_lsn:
            self._unreplayed.popleft()
        lag = now - self._unreplayed[0][1] if self._unreplayed else 0.0
        REPLICA_LAG_SECONDS.set(lag)
        REPLICA_LAG_BYTES.set(max(0, primary_lsn - replayed_lsn))
        lagging = lag > self.settings.database_replica_max_lag_seconds
        if lagging != self.lagging:
            log.warning("read replica %s (lag %.1f s)", "lagging" if lagging else "caught up", lag)
        self.lagging = lagging
        self._down_until = 0.0  # it answered: usable again at once, unless lagging
        REPLICA_IN_USE.set(0 if lagging else 1)


def build_replica_monitor(reads: ReadDatabase) -> BackgroundWorker | None:
    """The monitor of the replica's lag and health, when one is configured."""
    if reads.replica is None:
        return None
    interval = reads.settings.database_replica_check_seconds
    return BackgroundWorker(
        "replica-monitor",
        reads.check,
        interval=interval,
        expected_failures=CONNECTION_FAILURES,
    )


def app_reads(request: Request) -> ReadDatabase:
    """The running app's `ReadDatabase` (a FastAPI dependency)."""
    reads: ReadDatabase = request.app.state.reads
    return reads


async def get_read_session(request: Request) -> AsyncIterator[AsyncSession]:
    """A read-only session for a request whose answer may lag the primary slightly."""
    async with app_reads(request).session() as session:
        yield session


# The replica's session (or the primary's, when the replica cannot serve): for GET routes whose
# answer may be a moment old. Nothing written through it is kept.
ReadSession = Annotated[AsyncSession, Depends(get_read_session)]


# The app's ReadDatabase, for routes that read with Core statements (`reads.connect()`).
async def _app_reads_dependency(request: Request) -> ReadDatabase:
    return app_reads(request)


ReadDb = Annotated[ReadDatabase, Depends(_app_reads_dependency)]
