"""SQLite through aiosqlite in one trip to the connection's thread per statement.

aiosqlite runs each connection in a thread of its own; every call is a trip there and back
(queue the call, wake the thread, resolve the future on the event loop). SQLAlchemy's adapter
makes four trips per statement (open a cursor, execute, fetch all, close) and one more when a
connection goes back to the pool (a rollback, even with no transaction open). A trip costs about
60 µs of the event loop's CPU on a small machine, more than most of our statements take in
SQLite itself, so a cold search spent more time crossing threads than reading.

`OneTripDbapi` is SQLAlchemy's aiosqlite module with a cursor that runs the whole statement
(cursor, execute, fetch, close) as one function in the connection's thread, and a connection that
skips the rollback when SQLite has no transaction open. Rows, errors and transactions are those
of the stock adapter: the function is the one the stock cursor spreads over four trips.

A transaction's BEGIN goes with its first statement, in the same trip (`defer_begin`, which the
app's engine calls where SQLAlchemy begins a transaction: platform/db.py): SQLite's one writer
takes its lock with BEGIN IMMEDIATE, and a trip of its own kept that lock across one more turn
of a busy event loop before the first statement even ran. A transaction that ends before any
statement sends neither its BEGIN nor its COMMIT. Once that first trip has come back, the
transaction holds the write lock, and its next writes wait for no lock: a batch of them
(`run_writes`: a hold's seats, a new booking's rows) runs in the event loop's thread
(`holds_write_lock`), so the lock is no longer held across a turn of a busy loop for it. A
statement through SQLAlchemy's cursor keeps its trip (SQLAlchemy requires its execution to
await the driver), and so does the COMMIT (a checkpoint may run with it).

A brief read goes to no thread at all (`read_in_loop`): a trip costs more CPU, across the two
threads, than SQLite takes to answer an indexed read of a few rows (a direct search's
statement), so such a statement runs in the event loop's thread. One whose time grows with
the network (a one-stop search's) keeps its trip: in the thread SQLite runs beside the loop,
on the other core. Such reads take turns (`read_in_thread`): at most `read_threads` of them
(`database_sqlite_read_threads`, by default the machine's cores) run in their connections'
threads at once, however many connections the pool has. While one runs, the event loop gives
the interpreter's lock back to a thread that waits for it sooner (`lock_handed_back_promptly`).

It uses two internals of aiosqlite, `Connection._execute` (queue a function for the
connection's thread), as SQLAlchemy's own adapter does for its isolation level, and
`Connection._conn` (the sqlite3 connection); `one_trip_engine_arguments` falls back to the stock
adapter when an aiosqlite without the first is installed, and a brief read makes its trip
without the second.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import sqlite3
import sys
import threading
import weakref
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import aiosqlite
from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_cursor,
    AsyncAdapt_aiosqlite_dbapi,
)
from sqlalchemy.engine import make_url
from sqlalchemy.util import EMPTY_DICT
from sqlalchemy.util.concurrency import await_

log = logging.getLogger(__name__)

# The BEGIN of a transaction that writes: SQLite's write lock taken up front (platform/db.py).
WRITE_BEGIN = "BEGIN IMMEDIATE"

# What one trip brings back: description, rows, rowcount, lastrowid, in a transaction after it.
_Outcome = tuple[Any, list[Any], int, int | None, bool]


def _run_statement(
    conn: sqlite3.Connection, operation: str, parameters: Any, many: bool, begin: str | None = None
) -> _Outcome:
    """The whole statement, in the connection's thread (after `begin`, the transaction's
    BEGIN, when it is the transaction's first)."""
    if begin is not None:
        conn.execute(begin)
    cursor = conn.cursor()
    try:
        if many:
            cursor.executemany(operation, parameters)
        elif parameters is None:
            cursor.execute(operation)
        else:
            cursor.execute(operation, parameters)
        description = cursor.description
        rows = cursor.fetchall() if description else []
        return description, rows, cursor.rowcount, cursor.lastrowid, conn.in_transaction
    finally:
        cursor.close()


def _run_writes(
    conn: sqlite3.Connection,
    writes: Sequence[tuple[str, Any, bool]],
    claims: bool,
    begin: str | None = None,
) -> tuple[list[int], bool]:
    """Writes one after another in the connection's thread (the first after `begin`, as
    `_run_statement`): each one's rowcount, and whether a transaction is open after them.
    With `claims`, when the first writes no row the others are not run."""
    counts = []
    for operation, parameters, many in writes:
        _, _, rowcount, _, _ = _run_statement(conn, operation, parameters, many, begin)
        begin = None
        counts.append(rowcount)
        if claims and counts == [0]:
            break
    return counts, conn.in_transaction


async def run_writes(
    dbapi_connection: Any, writes: Sequence[tuple[str, Any, bool]], *, claims: bool
) -> list[int] | None:
    """Writes (SQL, parameters, executemany or not) in one trip to the connection's thread,
    inside the transaction open on it (or begun: its deferred BEGIN goes first), or with no
    trip, in the event loop's thread, once that transaction holds the write lock
    (`holds_write_lock`): their rowcounts (see `_run_writes`). None, with nothing run, when
    the connection is not this module's or has no transaction open or begun (the caller runs
    them its own way). A driver error is raised as the driver's."""
    if not isinstance(dbapi_connection, OneTripConnection) or not (
        dbapi_connection.in_transaction or dbapi_connection.pending_begin
    ):
        return None
    connection = dbapi_connection._connection
    begin = dbapi_connection.take_begin()
    try:
        here = None if begin is not None else dbapi_connection.holds_write_lock()
        if here is not None:
            counts, in_transaction = _run_writes(here, writes, claims)
        else:
            counts, in_transaction = await connection._execute(
                _run_writes, connection._conn, writes, claims, begin
            )
    except BaseException:
        dbapi_connection.in_transaction = True  # roll back to be sure (as `OneTripCursor`)
        raise
    dbapi_connection.in_transaction = in_transaction
    return counts


class OneTripCursor(AsyncAdapt_aiosqlite_cursor):
    """A client-side cursor whose statement is one trip: the rows come back with it."""

    __slots__ = ("_description", "_lastrowid", "_rowcount")

    def __init__(self, adapt_connection: OneTripConnection) -> None:
        # No aiosqlite cursor is opened here (the stock cursor's first trip).
        self._adapt_connection = adapt_connection
        self._connection = adapt_connection._connection
        self._soft_closed_memoized = EMPTY_DICT
        self._rows = collections.deque()
        self._description: Any = None
        self._rowcount = -1
        self._lastrowid: int | None = None

    @property
    def description(self) -> Any:
        return self._description

    @property
    def rowcount(self) -> int:
        return self._rowcount

    @property
    def lastrowid(self) -> Any:
        return self._lastrowid

    def _trip(self, operation: str, parameters: Any, many: bool) -> None:
        adapt_connection = self._adapt_connection
        assert isinstance(adapt_connection, OneTripConnection)
        connection = self._connection
        begin = adapt_connection.take_begin()
        try:
            outcome: _Outcome = await_(
                connection._execute(
                    _run_statement, connection._conn, operation, parameters, many, begin
                )
            )
        except BaseException as error:
            # The statement may have begun a transaction before it failed, or before the
            # task was cancelled while the thread ran it: roll back to be sure.
            adapt_connection.in_transaction = True
            if not isinstance(error, Exception):
                raise
            adapt_connection._handle_exception(error)
        description, rows, rowcount, lastrowid, in_transaction = outcome
        adapt_connection.in_transaction = in_transaction
        self._description, self._rowcount, self._lastrowid = description, rowcount, lastrowid
        self._rows = collections.deque(rows)

    def execute(self, operation: Any, parameters: Any = None) -> None:
        self._trip(operation, parameters, many=False)

    def executemany(self, operation: Any, seq_of_parameters: Sequence[Any]) -> None:
        self._trip(operation, seq_of_parameters, many=True)

    async def _async_soft_close(self) -> None:
        return  # nothing is open in the driver: the rows are here already

    def close(self) -> None:
        self._rows.clear()


class OneTripConnection(AsyncAdapt_aiosqlite_connection):
    """Statements through `OneTripCursor`; a transaction's BEGIN sent with its first statement
    (`defer_begin`); no trip to roll back or commit when SQLite has no transaction open (a
    pooled connection returned after autocommit reads, a transaction that ran nothing)."""

    __slots__ = ("in_transaction", "pending_begin", "writing")
    _cursor_cls = OneTripCursor  # type: ignore[assignment]

    def __init__(self, dbapi: Any, connection: Any) -> None:
        super().__init__(dbapi, connection)
        self.in_transaction = False  # autocommit: the driver never begins one by itself
        self.pending_begin: str | None = None
        self.writing = False

    def defer_begin(self, begin: str) -> None:
        """`begin` (BEGIN, BEGIN IMMEDIATE) runs in the next statement's trip, before it."""
        self.pending_begin = begin

    def take_begin(self) -> str | None:
        """The deferred BEGIN, now sent (None when there is none)."""
        begin, self.pending_begin = self.pending_begin, None
        if begin is not None:
            self.writing = begin == WRITE_BEGIN
        return begin

    def holds_write_lock(self) -> sqlite3.Connection | None:
        """The sqlite3 connection (`loop_connection`) when the open transaction began with
        BEGIN IMMEDIATE and has run: it holds SQLite's write lock, so its next writes wait for
        no lock (`run_writes` runs them in the event loop's thread, no trip). None otherwise."""
        if not (self.writing and self.in_transaction):
            return None
        return loop_connection(self._connection)

    def rollback(self) -> None:
        self.pending_begin = None
        self.writing = False
        if self.in_transaction:
            super().rollback()
            self.in_transaction = False

    def commit(self) -> None:
        self.pending_begin = None
        self.writing = False
        if self.in_transaction:
            super().commit()
            self.in_transaction = False


class OneTripDbapi(AsyncAdapt_aiosqlite_dbapi):
    """SQLAlchemy's aiosqlite module, handing out `OneTripConnection`s. `read_threads`: how
    many reads of the engine run in their connections' threads at once (`read_in_thread`)."""

    def __init__(self, aiosqlite: Any, sqlite: Any, *, read_threads: int = 1) -> None:
        super().__init__(aiosqlite, sqlite)
        if read_threads < 1:
            raise ValueError("read_threads must be at least 1")
        self.read_threads = read_threads
        self._read_slots: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore]
        self._read_slots = weakref.WeakKeyDictionary()

    def read_slots(self) -> asyncio.Semaphore:
        """The running event loop's turns for `read_in_thread` (an engine may outlive a loop:
        a test's)."""
        loop = asyncio.get_running_loop()
        slots = self._read_slots.get(loop)
        if slots is None:
            slots = self._read_slots[loop] = asyncio.Semaphore(self.read_threads)
        return slots

    def connect(self, *arg: Any, **kw: Any) -> OneTripConnection:
        stock = super().connect(*arg, **kw)
        return OneTripConnection(self, stock._connection)


def loop_connection(driver: Any) -> sqlite3.Connection | None:
    """The sqlite3 connection under an aiosqlite one, for `read_in_loop`; None from an aiosqlite
    that keeps it under another name (the read then makes its trip)."""
    connection = getattr(driver, "_conn", None)
    return connection if isinstance(connection, sqlite3.Connection) else None


def read_in_loop(connection: sqlite3.Connection, sql: str, parameters: Any) -> list[Any]:
    """A read run in the calling thread, the event loop's, on the connection aiosqlite opened in
    a thread of its own (`loop_connection`): no trip there and back. For a brief statement
    (`CompiledRead`'s `brief`) on a read-only connection that reads statement by statement
    (no transaction: in WAL mode a reader waits for no writer, so the loop is never held
    behind SQLite's lock). The app's engine opens its SQLite connections usable from any
    thread (`check_same_thread=False`, platform/db.py); SQLite serialises the calls made on
    one connection itself. A driver error is raised as the driver's."""
    cursor = connection.cursor()
    try:
        cursor.execute(sql, parameters)
        return cursor.fetchall()
    finally:
        cursor.close()


# How long a thread that waits for the interpreter's lock lets the holder run before asking
# for it, while reads run in threads (Python's own: 5 ms, `sys.getswitchinterval()`).
READ_SWITCH_INTERVAL = 0.000_2


class _PromptHandoff:
    """`lock_handed_back_promptly`'s count of reads in threads, across the process's loops."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.running = 0
        self.interval = 0.0  # to restore once none runs


_HANDOFF = _PromptHandoff()


@contextmanager
def lock_handed_back_promptly() -> Iterator[None]:
    """While any read runs in a thread, the process switches threads after
    `READ_SWITCH_INTERVAL` instead of Python's 5 ms; the last read out restores the interval.

    SQLite works without the interpreter's lock, but the read's thread takes it back several
    times a read (after preparing the statement, after each step, to hand the rows to the
    loop), and a busy event loop gives it up only when asked, after the interval: each take
    waited up to 5 ms, so the reads' turns (`read_threads`) were spent waiting and the loop
    idled behind them. In process, beside a thread busy in Python, a one-stop search's
    candidates read took 13.6-14.0 ms of wall time with 5 ms, 1.2-1.4 ms with 0.2 ms; through
    the server, cold one-stop at 10,000 flights 542 -> 624 and 734 -> 789 req/s in two runs
    (docs/ARCHITECTURE.md, "The cost of a request"). Not for the whole process: holds, whose
    statements run in the loop's thread but for their first and their COMMIT, cost ~10 % more
    CPU with the short interval and were not faster (bench/bookings.py, four pairs)."""
    with _HANDOFF.lock:
        if _HANDOFF.running == 0:
            _HANDOFF.interval = sys.getswitchinterval()
            sys.setswitchinterval(READ_SWITCH_INTERVAL)
        _HANDOFF.running += 1
    try:
        yield
    finally:
        with _HANDOFF.lock:
            _HANDOFF.running -= 1
            if _HANDOFF.running == 0:
                sys.setswitchinterval(_HANDOFF.interval)


async def read_in_thread(dbapi_connection: Any, sql: str, parameters: Any) -> list[Any]:
    """A read that keeps its trip to the connection's thread (one not `brief`: a one-stop
    search's candidates, one booking), on a connection that reads statement by statement;
    the rows as the driver returns them. Such reads run at most `read_threads` at once per
    engine (`OneTripDbapi`); the others wait for a turn (an asyncio semaphore of the running
    loop). A read cancelled during its trip gives its turn back at once, while its thread may
    still finish the statement; its connection is dropped (`compiled_reads._drop`).

    Each pooled connection has a thread of its own: ten reads sent at once ran in ten threads
    on a machine of two cores, beside the event loop, and each cost more CPU than alone
    (docs/ARCHITECTURE.md, "The cost of a request": SQLite's threads). The stock adapter's
    connection (`one_trip_engine_arguments` fell back to it) reads with no turns."""
    driver = dbapi_connection.driver_connection
    dbapi = getattr(dbapi_connection, "dbapi", None)
    if not isinstance(dbapi, OneTripDbapi):
        return list(await driver.execute_fetchall(sql, parameters))
    async with dbapi.read_slots():
        with lock_handed_back_promptly():
            return list(await driver.execute_fetchall(sql, parameters))


def one_trip_engine_arguments(url: str, *, read_threads: int = 1) -> dict[str, Any]:
    """`create_async_engine` arguments for a database URL: the one-trip module for aiosqlite
    (`read_threads`: `OneTripDbapi`'s), nothing for any other driver, or when the installed
    aiosqlite lacks the internal it needs (then the stock adapter, with a warning)."""
    if make_url(url).get_driver_name() != "aiosqlite":
        return {}
    if not callable(getattr(aiosqlite.Connection, "_execute", None)):
        log.warning("aiosqlite %s has no Connection._execute: stock adapter", aiosqlite.__version__)
        return {}
    return {"module": OneTripDbapi(aiosqlite, sqlite3, read_threads=read_threads)}
