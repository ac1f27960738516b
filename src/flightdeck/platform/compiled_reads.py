"""Read statements compiled once per dialect and run on the database driver itself.

For a big Core SELECT, SQLAlchemy's `AsyncConnection.execute` spends more CPU per execution
than the database spends answering: it hashes the statement's cache key (a tuple of thousands
of elements) to find the compiled form, builds an execution context, processes every bound
value through it and wraps the cursor in a result. A cold search runs three such statements
(docs/ARCHITECTURE.md, "The cost of a request").

`CompiledRead` lets SQLAlchemy compile its statement once per dialect (or the dialect's own
variant of it, with the same columns, where its planner needs another form) and keeps what an
execution needs: the SQL text, the order of its parameters with their bind processors, and
its columns' result processors. `rows` runs the text on the connection's driver (asyncpg's
`fetch`, aiosqlite's `execute_fetchall`: one trip, taking its turn among the reads in
SQLite's threads, `sqlite_driver.read_in_thread`) and applies the same processors, so the
rows are the ones `execute` returns. What stays SQLAlchemy's: the statement (Core), its SQL,
the types, the pool, and the connection's options. Cursor events are dispatched as for any
execution (without a cursor or an execution context), so listeners still see each statement;
a driver error becomes SQLAlchemy's `DBAPIError`, and after it, or after the task was
cancelled in the middle of a trip, the connection is dropped from the pool (`_drop`), except
after PostgreSQL's own refusal of a statement sent in autocommit, which leaves the connection
as it was (`_refused_in_autocommit`: a key or a PNR met in a hold's one statement).

It runs so only on a read-only connection that reads statement by statement (`READ_ONLY`, and
PostgreSQL's autocommit or SQLite's `STATEMENT_READS`: a read connection, a GET's session),
where no transaction is owed a BEGIN. A `brief` statement (an indexed read whose rows are
bounded by the answer, not by the size of the database) runs on SQLite in the event loop's
thread, without the trip to the connection's (platform/sqlite_driver.read_in_loop). On any
other connection (a read-only transaction too) and with any other driver, `rows` is
SQLAlchemy's own `execute`. A statement with an IN list (expanding parameters) is refused
(`constants` writes the code's own values into it; a list of values is an array parameter on
PostgreSQL), and so is a column whose type is read by its type code (asyncpg's Float).

An `unordered` read (its rows in no particular order: a one-stop search's candidates, a
UNION ALL that search sorts) that makes its trip to SQLite's thread comes back as one row:
SQLite's `json_group_array` of each row's `json_array` (`_as_one_row`), parsed in the loop
(orjson) and processed as the rows would have been. Python's sqlite3 releases the GIL for
each step of a statement, so each row fetched in the thread took the GIL back from a busy
event loop; one row makes that a step or two whatever the rows. A column JSON cannot carry
exactly (a BLOB, a REAL: SQLite writes 15 digits) is refused when the read is compiled.
Read in the loop (`brief`), or on PostgreSQL, the statement runs as written.

`CompiledWrite` is the same for a statement that writes (a hold's seats, a new booking: a
SELECT of data-modifying CTEs), in the caller's transaction, or as a transaction of its own
on a PostgreSQL connection in autocommit that says so (`STATEMENT_WRITES`: a booking held in
one statement, flights/inventory/hold_statement.py; a read runs on the driver there too).
SQLAlchemy's asyncpg adapter sends the transaction's BEGIN lazily, with its first statement;
a write that finds none sent yet asks the adapter to send it (its own `_start_transaction`,
as its first statement would: SQLAlchemy's execution of a hold's first statement, whose
cache key alone is a tuple of thousands of elements, cost ~160 µs of CPU more than the
driver's), then runs on the driver, in that transaction, which SQLAlchemy commits or rolls
back as before. Should a SQLAlchemy release drop that method, the first statement goes
through SQLAlchemy's Core `execute` again (which sends the BEGIN) and
`tests/platform/test_compiled_reads.py` says so. A driver error, the BEGIN's too, ends the
transaction: the connection is dropped and SQLAlchemy's `DBAPIError` raised, and the
caller's rollback has nothing left to undo. So does a cancellation during the BEGIN (a
stopped worker, a server shutting down), which is raised on. On SQLite (whose writes are one
row per statement) it is SQLAlchemy's Core execution.

`CompiledBatch` is several writes that follow each other in the caller's transaction: on
SQLite's one-trip driver they go to the connection's thread in one trip (SQLite's single
writer holds its lock across every trip), elsewhere they run one by one.
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, NoReturn, cast

import asyncpg  # type: ignore[import-untyped]
import orjson
from sqlalchemy import ColumnElement, Select, func, literal_column, select
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.exc import DBAPIError, InvalidRequestError
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.expression import Executable, ReturnsRows, SelectBase

from flightdeck.platform.db import (
    READ_ONLY,
    SHARED_BRIEF,
    STATEMENT_READS,
    STATEMENT_WRITES,
    closed_under,
    connection_lost,
)
from flightdeck.platform.sqlite_driver import (
    loop_connection,
    read_in_loop,
    read_in_thread,
    run_writes,
)

Processor = Callable[[Any], Any]
# The drivers run directly; any other gets SQLAlchemy's own execution.
_DRIVERS = frozenset({"asyncpg", "aiosqlite"})


@dataclass(frozen=True, slots=True)
class _Compiled:
    """A statement compiled for one dialect, and what running it needs."""

    sql: str
    # Each placeholder's parameter, in order (a name used twice is listed twice on SQLite).
    names: tuple[str, ...]
    defaults: dict[str, Any]  # values written into the statement (`func.substr(x, 1, 1)`)
    bind_processors: dict[str, Processor]
    result_processors: tuple[tuple[int, Processor], ...]  # (column position, processor)
    # An unordered read's form for a trip to SQLite's threads: its rows as one JSON array
    # (`_as_one_row`); None for any other.
    one_row_sql: str | None = None

    def parameters(self, values: Mapping[str, Any]) -> tuple[Any, ...]:
        """The placeholders' values, processed, in order (a tuple, as SQLAlchemy passes a
        positional statement's parameters to the driver and to cursor events)."""
        parameters = []
        for name in self.names:
            value = values[name] if name in values else self.defaults[name]
            process = self.bind_processors.get(name)
            parameters.append(value if process is None else process(value))
        return tuple(parameters)

    def processed(self, rows: Sequence[Sequence[Any]]) -> list[Sequence[Any]]:
        if not self.result_processors:
            return [tuple(row) for row in rows]
        result: list[Sequence[Any]] = []
        for row in rows:
            values = list(row)
            for position, process in self.result_processors:
                values[position] = process(values[position])
            result.append(values)
        return result


def constants(values: Iterable[str]) -> list[ColumnElement[str]]:
    """Our own string constants written into a statement (`status.in_(constants(...))`): a
    literal IN list would be an expanding parameter, bound and expanded on every execution,
    which a compiled statement refuses. Only for values the code defines, never input."""
    return [literal_column(f"'{value}'") for value in sorted(values)]


def _as_one_row(statement: ReturnsRows) -> Select[Any]:
    """`statement`'s rows as one row of one JSON text, `[[value, …], …]`: SQLite's
    `json_group_array` of each row's `json_array`, in no particular order. The values are
    the ones the rows hold (SQLite keeps a time or a date as text), so the columns' result
    processors read them as before; a column JSON could not carry exactly (a BLOB, a REAL
    printed to 15 digits) is refused. (A column a JSON function built would arrive as JSON,
    not as its text: no unordered read selects one.)"""
    for name, column in statement.exported_columns.items():
        try:
            python_type: Any = column.type.python_type
        except NotImplementedError:  # untyped (a NULL): whatever SQLite holds, JSON carries
            python_type = None
        if python_type in (float, Decimal, bytes):
            raise ValueError(f"column {name!r} ({column.type}) does not travel in JSON exactly")
    rows = cast(SelectBase, statement).subquery("unordered")
    return select(func.json_group_array(func.json_array(*rows.c)))


def _compile(statement: ReturnsRows, dialect: Dialect, *, unordered: bool = False) -> _Compiled:
    compiled = statement.compile(dialect=dialect)
    binds = compiled.binds
    expanding = sorted(name for name, bind in binds.items() if bind.expanding)
    if expanding:
        raise ValueError(f"a compiled read takes no IN list: {', '.join(expanding)}")
    if compiled.positiontup is None:
        raise ValueError(f"{dialect.name}: not a positional parameter style")
    bind_processors: dict[str, Processor] = {}
    for name, bind in binds.items():
        process = bind.type.dialect_impl(dialect).bind_processor(dialect)
        if process is not None:
            bind_processors[name] = process
    result_processors = []
    for position, (name, column) in enumerate(statement.exported_columns.items()):
        try:
            # No cursor yet, so no column type code: a type that needs it cannot be read here.
            process = column.type.dialect_impl(dialect).result_processor(dialect, None)
        except (TypeError, InvalidRequestError) as error:
            raise ValueError(
                f"{dialect.name}: column {name!r} ({column.type}) is read by its type code; "
                "type it as the driver returns it (type_coerce)"
            ) from error
        if process is not None:
            result_processors.append((position, process))
    one_row_sql = None
    if unordered and dialect.name == "sqlite":
        one_row = _as_one_row(statement).compile(dialect=dialect)
        if one_row.positiontup != compiled.positiontup:  # the same placeholders, in order
            raise ValueError("the one-row form's parameters are not the statement's")
        one_row_sql = one_row.string
    return _Compiled(
        sql=compiled.string,
        names=tuple(compiled.positiontup),
        defaults={name: bind.value for name, bind in binds.items()},
        bind_processors=bind_processors,
        result_processors=tuple(result_processors),
        one_row_sql=one_row_sql,
    )


def _statement_reads(sync: Connection) -> bool:
    """Whether the connection is read-only and runs each statement on its own."""
    options = sync.get_execution_options()
    return bool(options.get(READ_ONLY)) and (
        options.get("isolation_level") == "AUTOCOMMIT" or bool(options.get(STATEMENT_READS))
    )


def _statement_writes(sync: Connection) -> bool:
    """Whether the connection is in autocommit for statements that write (`STATEMENT_WRITES`):
    each statement is a transaction of its own, with no BEGIN owed."""
    options = sync.get_execution_options()
    return bool(options.get(STATEMENT_WRITES)) and options.get("isolation_level") == "AUTOCOMMIT"


class CompiledRead:
    """A read-only Core SELECT, compiled once per dialect, run on the driver (module doc).

    `variants`: the same read written otherwise for a dialect (by name), with the same
    columns, where that dialect's planner needs another form of it."""

    def __init__(
        self,
        statement: ReturnsRows,
        *,
        brief: bool = False,
        unordered: bool = False,
        variants: Mapping[str, ReturnsRows] | None = None,
    ) -> None:
        self.statement = statement
        self.brief = brief
        self.unordered = unordered
        self.variants = dict(variants or {})
        for name, variant in self.variants.items():
            if tuple(variant.exported_columns.keys()) != tuple(statement.exported_columns.keys()):
                raise ValueError(f"the {name} variant's columns are not the statement's")
        # Each selected column's name, in order: a row is a sequence, read by position.
        self.columns: tuple[str, ...] = tuple(statement.exported_columns.keys())
        self._named: Any = namedtuple("CompiledRow", self.columns, rename=True)  # type: ignore[misc]
        self._compiled: dict[str, _Compiled] = {}

    def position(self, column: str) -> int:
        return self.columns.index(column)

    def statement_for(self, dialect: Dialect) -> ReturnsRows:
        """The statement as this dialect runs it (its variant, if it has one)."""
        return self.variants.get(dialect.name, self.statement)

    def compiled(self, dialect: Dialect) -> _Compiled:
        found = self._compiled.get(dialect.name)
        if found is None:
            statement = self.statement_for(dialect)
            found = _compile(statement, dialect, unordered=self.unordered)
            self._compiled[dialect.name] = found
        return found

    def _on_driver(self, sync: Connection) -> bool:
        """Whether the statement can run on this connection's driver: on a connection that
        reads statement by statement. In a transaction the driver's BEGIN is SQLAlchemy's to
        send (asyncpg's adapter sends it with the first statement)."""
        return _statement_reads(sync) or _statement_writes(sync)

    async def rows(self, conn: AsyncConnection, values: Mapping[str, Any]) -> list[Sequence[Any]]:
        """The statement's rows with `values` bound, as `conn.execute` would return them."""
        sync = conn.sync_connection
        if sync is None or conn.dialect.driver not in _DRIVERS or not self._on_driver(sync):
            statement = self.statement_for(conn.dialect)
            result = await conn.execute(cast(Executable, statement), dict(values))
            return list(result.all())
        compiled = self.compiled(conn.dialect)
        parameters = compiled.parameters(values)
        # Checked out when the connection started; the driver's own connection under it.
        driver: Any = sync.connection.driver_connection
        # SQLite: a brief read in the event loop's thread; an unordered one as one row.
        here = loop_connection(driver) if self.brief else None
        if here is None and sync.get_execution_options().get(SHARED_BRIEF):
            # Brief reads share that connection because each runs whole, never awaiting.
            raise RuntimeError("only a brief read runs on the shared brief connection")
        one_row = compiled.one_row_sql if here is None else None
        sql = one_row or compiled.sql
        dispatch = sync.dispatch
        if dispatch.before_cursor_execute:
            dispatch.before_cursor_execute(sync, None, sql, parameters, None, False)
        try:
            if conn.dialect.driver == "asyncpg":
                rows: Sequence[Sequence[Any]] = await driver.fetch(sql, *parameters)
            elif here is not None:
                rows = read_in_loop(here, sql, parameters)
            else:
                rows = await read_in_thread(sync.connection.dbapi_connection, sql, parameters)
        except BaseException as error:
            if _refused_in_autocommit(conn, driver, error):
                raise DBAPIError(sql, parameters, error) from error
            await _drop(conn, sql, parameters, error)
        if dispatch.after_cursor_execute:
            dispatch.after_cursor_execute(sync, None, sql, parameters, None, False)
        if one_row:
            [(array,)] = rows
            rows = orjson.loads(array)
        return compiled.processed(rows)

    async def named_rows(self, conn: AsyncConnection, values: Mapping[str, Any]) -> list[Any]:
        """`rows`, each also read by column name (`row.id`), as SQLAlchemy's rows are."""
        make = self._named._make
        return [make(row) for row in await self.rows(conn, values)]


class CompiledWrite(CompiledRead):
    """A statement that writes in the caller's transaction (an INSERT, UPDATE or DELETE with
    RETURNING, or a SELECT of data-modifying CTEs), compiled once per dialect: on asyncpg it
    runs on the driver once the transaction has begun there (module doc)."""

    async def rows(self, conn: AsyncConnection, values: Mapping[str, Any]) -> list[Sequence[Any]]:
        sync = conn.sync_connection
        if sync is not None and sync.dialect.driver == "asyncpg":
            await _begin_on_adapter(conn, sync)
        return await super().rows(conn, values)

    def _on_driver(self, sync: Connection) -> bool:
        if sync.dialect.driver != "asyncpg":
            return False
        driver = sync.connection.driver_connection
        return driver is not None and (bool(driver.is_in_transaction()) or _statement_writes(sync))


async def _begin_on_adapter(conn: AsyncConnection, sync: Connection) -> None:
    """The BEGIN SQLAlchemy's asyncpg adapter owes the connection's transaction, sent now by
    the adapter itself (nothing when it was sent, in autocommit, or outside a transaction)."""
    if not sync.in_transaction():
        return
    adapter: Any = sync.connection.dbapi_connection
    start = getattr(adapter, "_start_transaction", None)
    if start is None or getattr(adapter, "_transaction", None) is not None:
        return
    try:
        await start()
    except BaseException as error:
        await _drop(conn, "BEGIN", None, error)


def _refused_in_autocommit(conn: AsyncConnection, driver: Any, error: BaseException) -> bool:
    """Whether PostgreSQL refused a statement sent in autocommit (a key or a PNR met in a
    hold's one statement, a statement timeout on a read): the server answered, no transaction
    was open on either side, and the connection is as it was before the statement. It stays
    in the pool; only the error is raised (as SQLAlchemy's `DBAPIError`). Not when the
    connection itself was lost (asyncpg's `ConnectionDoesNotExistError` is a `PostgresError`
    too): that one is dropped."""
    sync = conn.sync_connection
    return (
        isinstance(error, asyncpg.PostgresError)
        and not closed_under(conn)
        and sync is not None
        and (_statement_reads(sync) or _statement_writes(sync))
        and not driver.is_in_transaction()
    )


async def _drop(conn: AsyncConnection, sql: str, parameters: Any, error: BaseException) -> NoReturn:
    """Whatever interrupted a trip to the driver, an error or the task's cancellation, the
    connection is not trusted again: the pool drops it (as SQLAlchemy's own execution does).
    A BEGIN cancelled in flight leaves the server's transaction open and asyncpg's marked as
    started, while SQLAlchemy's adapter knows of none: every later transaction on that
    connection would have been a savepoint inside it, never committed. An error is raised as
    SQLAlchemy's `DBAPIError`; a cancellation (or an exit) goes on as it was."""
    if isinstance(error, Exception) and closed_under(conn):
        connection_lost(conn.sync_engine.pool)  # its other connections are likely gone too
    await conn.invalidate()
    if not isinstance(error, Exception):
        raise error
    raise DBAPIError(sql, parameters, error, connection_invalidated=True) from error


class CompiledBatch:
    """Writes that run one after another in the caller's transaction (a new booking's rows on
    SQLite: the PNR's claim, the booking, its segments, its passengers, its event), each
    compiled once per dialect. On SQLite's one-trip driver (platform/sqlite_driver.py), once
    the transaction is open, they all go to the connection's thread in one trip: SQLite has
    one writer, and its lock was held across a trip per statement, each waiting for a turn of
    the event loop. Anywhere else, SQLAlchemy's Core execution, one by one. With `claims`,
    when the first writes no row (a key taken) the others are not run. Cursor events: every
    statement is announced before the trip, and reported done after it if it ran. A driver
    error drops the connection and is raised as SQLAlchemy's `DBAPIError` (as
    `CompiledWrite`)."""

    def __init__(self, *statements: ReturnsRows, claims: bool = False) -> None:
        self.statements = [CompiledRead(statement) for statement in statements]
        self.claims = claims

    async def rowcounts(self, conn: AsyncConnection, values: Sequence[Any]) -> list[int]:
        """Each statement's rowcount with its values bound (a mapping, or a list of them: one
        execution per row, whose count is the driver's, -1 on asyncpg); fewer when the claim
        wrote nothing."""
        sync = conn.sync_connection
        if sync is not None and conn.dialect.driver == "aiosqlite":
            writes: list[tuple[str, Any, bool]] = []
            for statement, bound in zip(self.statements, values, strict=True):
                compiled = statement.compiled(conn.dialect)
                if isinstance(bound, list):
                    writes.append((compiled.sql, [compiled.parameters(v) for v in bound], True))
                else:
                    writes.append((compiled.sql, compiled.parameters(bound), False))
            counts = await self._on_driver(conn, sync, writes)
            if counts is not None:
                return counts
        counts = []
        for statement, bound in zip(self.statements, values, strict=True):
            written = statement.statement_for(conn.dialect)
            result = await conn.execute(cast(Executable, written), bound)
            counts.append(cast(Any, result).rowcount)
            if self.claims and counts == [0]:
                break
        return counts

    async def _on_driver(
        self, conn: AsyncConnection, sync: Connection, writes: list[tuple[str, Any, bool]]
    ) -> list[int] | None:
        dispatch = sync.dispatch
        if dispatch.before_cursor_execute:
            for sql, parameters, many in writes:
                dispatch.before_cursor_execute(sync, None, sql, parameters, None, many)
        try:
            counts = await run_writes(sync.connection.dbapi_connection, writes, claims=self.claims)
        except BaseException as error:  # the pool drops it: its transaction is lost with it
            await _drop(conn, "; ".join(sql for sql, _, _ in writes), None, error)
        if counts is not None and dispatch.after_cursor_execute:
            for sql, parameters, many in writes[: len(counts)]:
                dispatch.after_cursor_execute(sync, None, sql, parameters, None, many)
        return counts
