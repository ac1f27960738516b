"""Engine, declarative base, column types and the session-per-request dependency."""

from __future__ import annotations

import asyncio
import time
import uuid
import weakref
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Annotated, Any, TypeVar, cast

from fastapi import Depends, Request
from sqlalchemy import BigInteger, DateTime, Integer, MetaData, String, event
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DisconnectionError, InvalidatePoolError
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.pool import ConnectionPoolEntry, Pool
from sqlalchemy.types import TypeDecorator

from flightdeck.platform.cache_invalidation import finish_invalidations
from flightdeck.platform.pool import FairQueuePool
from flightdeck.platform.settings import Settings
from flightdeck.platform.sqlite_driver import (
    WRITE_BEGIN,
    OneTripConnection,
    one_trip_engine_arguments,
)

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UTCDateTime(TypeDecorator[datetime]):
    """Stores instants in UTC and always returns aware UTC datetimes (SQLite drops the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given for a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

    # The two processors below do what the `process_*` methods above do, fused with the
    # driver type's own processing into one function per value (TypeDecorator's chain is two
    # calls, and `datetime.replace` costs ~2 µs on this Python): a page of connections reads
    # 400 instants. tests/platform/test_utc_datetime.py holds them to the methods above.

    def bind_processor(self, dialect: Dialect) -> Callable[[Any], Any]:
        if dialect.name == "sqlite":
            return _utc_to_sqlite_text
        to_driver = self.impl_instance.bind_processor(dialect)

        def process(value: datetime | None) -> Any:
            if value is None:
                return None
            if value.tzinfo is None:
                raise ValueError("naive datetime given for a UTC column")
            value = value.astimezone(UTC)
            return value if to_driver is None else to_driver(value)

        return process

    def result_processor(
        self, dialect: Dialect, coltype: object
    ) -> Callable[[Any], datetime | None]:
        if dialect.name == "sqlite":
            return _utc_from_sqlite_text
        to_datetime = self.impl_instance.result_processor(dialect, coltype)

        def process(value: Any) -> datetime | None:
            if value is None:
                return None
            instant = cast(datetime, value if to_datetime is None else to_datetime(value))
            if instant.tzinfo is UTC:
                return instant  # asyncpg's timestamptz is already
            return self.process_result_value(instant, dialect)

        return process


# SQLAlchemy's SQLite DATETIME text, formatted from a tuple (its own format takes a dict).
_SQLITE_TEXT = "%04d-%02d-%02d %02d:%02d:%02d.%06d"


def _utc_to_sqlite_text(value: datetime | None) -> str | None:
    """An instant as SQLite holds it: naive UTC text, `2026-12-02 03:22:56.245999`."""
    if value is None:
        return None
    if value.tzinfo is None:
        raise ValueError("naive datetime given for a UTC column")
    v = value.astimezone(UTC)
    return _SQLITE_TEXT % (v.year, v.month, v.day, v.hour, v.minute, v.second, v.microsecond)


def _utc_from_sqlite_text(value: str | None) -> datetime | None:
    """An instant SQLite holds as text (naive UTC, `2026-12-02 03:22:56.245999`), aware."""
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value + "+00:00")
    except ValueError:  # text with a zone of its own
        parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is UTC:
        return parsed
    # A bare date parses without the zone appended; a zone of its own is converted.
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


# Money columns (integer minor units): 64-bit. PostgreSQL's INTEGER is 32-bit (21 million in
# major units, less than one business fare in Indonesian rupiah); SQLite's is 64-bit already.
AmountColumn = BigInteger().with_variant(Integer(), "sqlite")


def new_id() -> str:
    return str(uuid.uuid4())


class IdMixin:
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)


def _utcnow() -> datetime:
    from flightdeck.platform.clock import utcnow

    return utcnow()


class TimestampMixin:
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=_utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=_utcnow, onupdate=_utcnow)


def _sqlite_pragmas(dbapi_connection: Any, _: ConnectionPoolEntry) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


READ_ONLY = "flightdeck_read_only"
# A connection of `read_connection`: every statement on its own (SQLite's autocommit).
STATEMENT_READS = "flightdeck_statement_reads"
# The one connection SQLite's brief reads share, in the event loop's thread
# (platform/brief_reads.py): only a brief `CompiledRead` may run on it.
SHARED_BRIEF = "flightdeck_shared_brief"
# A PostgreSQL connection in autocommit whose statements may write, each its own transaction
# (a hold written in one statement: flights/inventory/hold_statement.py).
STATEMENT_WRITES = "flightdeck_statement_writes"
STATEMENT_WRITE_OPTIONS = {"isolation_level": "AUTOCOMMIT", STATEMENT_WRITES: True}


_UNIQUE_VIOLATION = "23505"  # PostgreSQL's SQLSTATE


def unique_violation(error: Exception, constraint: str) -> bool:
    """Whether a driver's error (PostgreSQL's, through SQLAlchemy) is `constraint` refusing
    a duplicate: how a plain INSERT in a statement of several writes says the row exists."""
    orig = getattr(error, "orig", None)
    return getattr(orig, "sqlstate", None) == _UNIQUE_VIOLATION and (
        getattr(orig, "constraint_name", None) == constraint
    )


def _sqlite_begin(conn: Any) -> None:
    # Writers take the lock up front, so concurrent requests queue instead of deadlocking
    # on a read-then-write lock upgrade; read-only requests (GET) do not queue behind them.
    options = conn.get_execution_options()
    if options.get(STATEMENT_READS, False):
        return  # no transaction: each SELECT reads its own snapshot
    begin = "BEGIN" if options.get(READ_ONLY, False) else WRITE_BEGIN
    driver = conn.connection.dbapi_connection
    if isinstance(driver, OneTripConnection):
        driver.defer_begin(begin)  # sent with the first statement, in its trip
    else:
        conn.exec_driver_sql(begin)


# asyncpg keeps each statement it prepared on a connection for its next execution, but only a
# statement of at most 15 KiB of SQL by default: a one-stop search's one statement is ~17 KiB,
# and was prepared again (a round trip, a parse and a plan) on every search. Ours are all kept.
ASYNCPG_CONNECT_ARGS: dict[str, Any] = {"max_cacheable_statement_size": 64 * 1024}


def create_engine(settings: Settings) -> AsyncEngine:
    if settings.is_sqlite:
        path = settings.database_url.split(":///", 1)[1] if ":///" in settings.database_url else ""
        if path and path != ":memory:":
            from pathlib import Path

            Path(path).parent.mkdir(parents=True, exist_ok=True)
        pool: dict[str, Any] = {}
        if path and path != ":memory:":  # an in-memory database has one static connection
            pool = {
                "poolclass": FairQueuePool,
                "pool_size": settings.database_pool_size,
                "max_overflow": 0,
            }
        engine = create_async_engine(
            settings.database_url,
            echo=settings.database_echo,
            # Usable from the event loop's thread too: a brief read runs there, with no trip
            # to the connection's own (platform/sqlite_driver.read_in_loop).
            connect_args={"timeout": 30, "isolation_level": None, "check_same_thread": False},
            # One trip to the driver's thread per statement (platform/sqlite_driver.py).
            **one_trip_engine_arguments(
                settings.database_url, read_threads=settings.database_sqlite_read_threads
            ),
            **pool,
        )
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        event.listen(engine.sync_engine, "begin", _sqlite_begin)
        return engine
    engine = create_async_engine(
        settings.database_url,
        echo=settings.database_echo,
        # Waiters served in arrival order (platform/pool.py): SQLAlchemy's own queue lets a
        # request that just arrived take a connection from one that has waited.
        poolclass=FairQueuePool,
        pool_size=settings.database_pool_size,
        # No overflow: under load, extra connections were opened and closed again on every
        # return to a full pool (a new server backend each time); requests wait for one.
        max_overflow=0,
        connect_args=ASYNCPG_CONNECT_ARGS,
    )
    connections = engine.sync_engine.pool

    def checkout(dbapi_connection: Any, record: ConnectionPoolEntry, _proxy: Any) -> None:
        _check_on_checkout(connections, dbapi_connection, record)

    event.listen(connections, "connect", _mark_used)
    event.listen(connections, "checkin", _mark_used)
    event.listen(connections, "checkout", checkout)
    return engine


# Pools a connection of which was found dropped by its server (`connection_lost`).
_LOST: weakref.WeakSet[Pool] = weakref.WeakSet()


def closed_under(conn: AsyncConnection) -> bool:
    """Whether the driver found the connection closed under it: asyncpg notices at once when
    the server ends it (stopped, restarted, a session terminated). False once it is dropped
    (invalidated) or for a driver that cannot tell."""
    sync = conn.sync_connection
    if conn.invalidated or sync is None:
        return False
    is_closed = getattr(sync.connection.driver_connection, "is_closed", None)
    return callable(is_closed) and bool(is_closed())


def connection_lost(pool: Pool) -> None:
    """A connection of `pool` was found dropped by its server (restarted, or ending its
    sessions): the others it opened before are likely gone too. The pool's next checkout
    drops them all (`InvalidatePoolError`: each reconnects when next checked out), as
    SQLAlchemy's own execution does on a disconnect; compiled reads and writes
    (platform/compiled_reads.py) run on the driver, beside it. Otherwise each would fail
    one request in turn until the 10 s idle ping caught the rest."""
    _LOST.add(pool)


# A connection idle this long is checked before use (the server may have restarted or cut
# it); one in steady use is not: SQLAlchemy's pre-ping cost three round trips per checkout.
IDLE_BEFORE_PING_SECONDS = 10.0
_LAST_USED = "flightdeck_last_used"


def _mark_used(_dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
    record.info[_LAST_USED] = time.monotonic()


def _check_on_checkout(pool: Pool, dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
    """Before a connection is used: every connection of the pool dropped after one was
    found dropped (`connection_lost`); this one pinged once it has sat idle."""
    if pool in _LOST:
        _LOST.discard(pool)
        raise InvalidatePoolError("a connection of this pool was found dropped")
    last_used = record.info.get(_LAST_USED, 0.0)
    if time.monotonic() - last_used < IDLE_BEFORE_PING_SECONDS:
        return
    try:
        dbapi_connection.ping()
    except Exception as exc:
        # The pool drops this connection and checks out another (a fresh one if need be).
        raise DisconnectionError() from exc


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


def _slots(request: Request, name: str, count: Callable[[Settings], int]) -> asyncio.Semaphore:
    """The app's semaphore `name` (made on first use: `count` of its settings, at least 1)."""
    state = request.app.state
    slots: asyncio.Semaphore | None = getattr(state, name, None)
    if slots is None:
        slots = asyncio.Semaphore(max(1, count(state.settings)))
        setattr(state, name, slots)
    return slots


def _write_slots(request: Request) -> asyncio.Semaphore:
    """The app's write slots: `database_pool_size - database_read_reserve` (at least one)."""
    return _slots(
        request,
        "database_write_slots",
        lambda settings: settings.database_pool_size - settings.database_read_reserve,
    )


@asynccontextmanager
async def write_slot(request: Request, *, brief: bool = False) -> AsyncIterator[None]:
    """One of the app's write slots for the block (`WRITE_ADMISSION`, for a route that takes
    no dependencies). `brief`: a write of one round trip (a hold of one flight), which first
    waits for one of `database_brief_write_slots`: a few such writes keep the server as busy
    as more would, and a read waits for the turns of the event loop they take."""
    if not brief:
        async with _write_slots(request):
            yield
        return
    brief_slots = _slots(
        request, "database_brief_write_slots", lambda s: s.database_brief_write_slots
    )
    async with brief_slots, _write_slots(request):
        yield


async def _admit_writer(request: Request) -> AsyncIterator[None]:
    async with write_slot(request):
        yield


# A route dependency for a write that only talks to the database while its transaction is
# open (a hold: `dependencies=[WRITE_ADMISSION]`): the request waits for a write slot before
# its session and keeps it until the session has committed (route dependencies are entered
# first and left last). At most pool size minus `database_read_reserve` such requests use
# connections at once: the pool's queue is first come, first served, and under a load of
# holds a GET waited seconds behind every hold queued before it. Not for a request that
# calls another service with its transaction open (it would keep a slot meanwhile).
WRITE_ADMISSION = Depends(_admit_writer, scope="function")


# What a GET or HEAD request's session runs with: each statement on its own, in autocommit.
# On PostgreSQL (READ COMMITTED) every statement of a transaction reads its own snapshot
# anyway, so a read sees nothing different, and the BEGIN and COMMIT round trips go (a GET of
# one booking: 3.5 -> 2.7-3.1 ms of CPU, docs/ARCHITECTURE.md "Reads"). SQLite, the same as
# `read_connection`. Nothing on a READ_ONLY connection writes (the suite checks it:
# tests/conftest.py, `_read_only_connections_write_nothing`).
_REQUEST_READS: dict[str, dict[str, Any]] = {
    "postgresql": {READ_ONLY: True, "isolation_level": "AUTOCOMMIT"},
    "sqlite": {READ_ONLY: True, STATEMENT_READS: True},
}


_Closeable = TypeVar("_Closeable", AsyncSession, AsyncConnection)


@asynccontextmanager
async def closing_in_task(resource: _Closeable) -> AsyncIterator[_Closeable]:
    """`async with resource` (a session, or a started connection), closed in the caller's
    own task when the block ends normally.

    SQLAlchemy's `async with` closes in a task of its own and waits for it, shielded from
    cancellation: the caller resumes three turns of the event loop later, each as long as
    whatever else the loop runs meanwhile. Under the holds bench a GET of one booking spent
    3.6-6.1 ms of its 6.4-10.6 ms in the server (means) waiting for them, and a hold kept its
    write slot as long (docs/ARCHITECTURE.md, "The cost of a request"). A block that ends
    normally leaves nothing open on the database (a read in autocommit, a session committed
    or rolled back), so its close is awaited here, in the same turn (on PostgreSQL it sends
    nothing). A block left by an exception, a cancellation included, is closed SQLAlchemy's
    way: it may have a statement or a transaction to undo."""
    try:
        yield resource
    except BaseException as exc:
        await resource.__aexit__(type(exc), exc, exc.__traceback__)
        raise
    await resource.close()


@asynccontextmanager
async def request_session(request: Request) -> AsyncIterator[AsyncSession]:
    """The request's session (`DbSession`, for a route that takes no dependencies): one
    transaction, committed when the block ends, rolled back on any error. A GET or HEAD reads
    statement by statement instead (`_REQUEST_READS`) and has nothing to commit: closing the
    session returns its connection (a GET of one booking: 1.47 -> 1.37 ms of CPU without the
    commit, docs/ARCHITECTURE.md "Reads"); one that changed ORM objects is a bug, refused.
    Closed in the request's task (`closing_in_task`)."""
    maker: async_sessionmaker[AsyncSession] = request.app.state.sessionmaker
    async with closing_in_task(maker()) as session:
        if request.method in ("GET", "HEAD"):
            dialect = session.get_bind().dialect.name
            await session.connection(execution_options=_REQUEST_READS.get(dialect, {}))
            yield session
            if session.new or session.dirty or session.deleted:
                raise RuntimeError(f"a {request.method} request changed ORM objects: not saved")
            return
        try:
            yield session
            await session.commit()
            # Cached answers the commit made stale are dropped before the response is sent.
            await finish_invalidations(session)
        except BaseException:
            await session.rollback()
            raise


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """The request's session as a dependency (`request_session`)."""
    async with request_session(request) as session:
        yield session


async def app_engine(request: Request) -> AsyncEngine:
    """The running app's engine (a FastAPI dependency), for reads outside any session. A
    coroutine: FastAPI would run a plain function in its threadpool."""
    engine: AsyncEngine = request.app.state.engine
    return engine


def read_engine(engine: AsyncEngine) -> AsyncEngine:
    """`engine` (and its pool) with `read_connection`'s options set on each connection as it
    is checked out: a read on it skips setting them after, one greenlet switch (opening and
    closing a read connection on PostgreSQL: 74.7-104.6 → 56.8-86.0 µs of CPU). Build it
    once per engine (`ReadDatabase` does): building one costs more than that saves."""
    return engine.execution_options(**_REQUEST_READS[engine.dialect.name])


@asynccontextmanager
async def read_connection(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A pooled connection for read-only work outside the request's session (no ORM, no
    unit of work): search opens one only when its cache cannot answer. Statements run in
    autocommit, each on its own snapshot (on SQLite, where the driver is in autocommit
    already, the BEGIN of `_sqlite_begin` is skipped); nothing is written, so nothing is
    committed. Closed in the caller's task (`closing_in_task`). On a `read_engine` the
    options are there already."""
    async with closing_in_task(await engine.connect().start()) as conn:
        wanted = _REQUEST_READS[conn.dialect.name]
        options = conn.sync_connection.get_execution_options()  # type: ignore[union-attr]
        if any(options.get(name) != value for name, value in wanted.items()):
            await conn.execution_options(**wanted)
        yield conn


async def commit_mid_request(session: AsyncSession) -> None:
    """Commits the request's transaction before the request ends. Services only flush; this is
    for the two documented exceptions (docs/ARCHITECTURE.md, "Transactions"): a payment attempt
    made durable before the gateway is called (and each step after it), and a reused refresh
    token's family revoked before its 401 rolls the request back. The session goes on in a
    new transaction."""
    await session.commit()


# scope="function": commit before the response is sent, so a failed commit is never a 2xx.
DbSession = Annotated[AsyncSession, Depends(get_session, scope="function")]
DbEngine = Annotated[AsyncEngine, Depends(app_engine)]
