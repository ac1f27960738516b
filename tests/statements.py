"""Watching the SQL a test's own requests send: SQLAlchemy's `before_cursor_execute`
(`statements_sent`), or on PostgreSQL asyncpg's query loggers, which see BEGIN and COMMIT too
(`postgres_queries`).

Only what is sent from the calling task's context is kept: a request made through the test
client runs in it (SQLAlchemy's greenlets too), while background work (the outbox relay,
event handlers of earlier requests) runs in tasks of its own and is left out.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from fastapi import FastAPI
from sqlalchemy import event

Statement = tuple[str, Any]  # SQL text, its parameters

_WATCHING: contextvars.ContextVar[list[Any] | None] = contextvars.ContextVar(
    "watching_statements", default=None
)
Listener = tuple[Any, str, Callable[..., None]]  # target, event name, function


def _record(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
    statements = _WATCHING.get()
    if statements is not None:
        statements.append((statement, parameters))


def _log_query(record: Any) -> None:
    # asyncpg calls query loggers with call_soon, in the context of the task that sent it.
    queries = _WATCHING.get()
    if queries is not None:
        queries.append(record.query)


@contextmanager
def _watching(listeners: list[Listener]) -> Iterator[list[Any]]:
    """What the listeners record from the calling task's context while the block runs."""
    found: list[Any] = []
    for target, name, function in listeners:
        event.listen(target, name, function)
    token = _WATCHING.set(found)
    try:
        yield found
    finally:
        _WATCHING.reset(token)
        for target, name, function in listeners:
            event.remove(target, name, function)


@contextmanager
def statements_sent(app: FastAPI) -> Iterator[list[Statement]]:
    """The statements (with their parameters) the calling task sends to the app's database
    while the block runs. BEGIN and COMMIT are not cursor executions, so not among them."""
    with _watching([(app.state.engine.sync_engine, "before_cursor_execute", _record)]) as found:
        yield found


def _record_begin(conn: Any) -> None:
    # Runs after the app's own "begin" listener (platform/db.py), which leaves on SQLite's
    # one-trip driver the BEGIN the transaction's first statement will carry.
    begins = _WATCHING.get()
    begin = getattr(conn.connection.dbapi_connection, "pending_begin", None)
    if begins is not None and begin is not None:
        begins.append(begin)


@contextmanager
def sqlite_begins(app: FastAPI) -> Iterator[list[str]]:
    """The BEGINs (BEGIN, BEGIN IMMEDIATE) of the transactions the calling task begins on
    SQLite while the block runs; each goes with the transaction's first statement, in its trip
    (platform/sqlite_driver.py)."""
    with _watching([(app.state.engine.sync_engine, "begin", _record_begin)]) as found:
        yield found


@contextmanager
def postgres_queries(app: FastAPI) -> Iterator[list[str]]:
    """Every query the calling task sends to PostgreSQL while the block runs, as asyncpg sees
    it: BEGIN and COMMIT too. asyncpg reports them with call_soon: let the loop run once
    (`await asyncio.sleep(0)`) before reading the list. The logger goes on each connection
    checked out meanwhile and comes off when it is checked in, or when the block ends (a
    background task's connection, such as the relay's, may outlive the block: left on, its
    logger would record into a later test's watch)."""
    pool = app.state.engine.sync_engine.pool
    attached: set[Any] = set()

    def attach(dbapi_connection: Any, *_: Any) -> None:
        driver = dbapi_connection.driver_connection
        driver.add_query_logger(_log_query)
        attached.add(driver)

    def detach(dbapi_connection: Any, *_: Any) -> None:
        if dbapi_connection is None:  # invalidated (a failed statement): closed with its logger
            return
        driver = dbapi_connection.driver_connection
        if driver in attached:
            driver.remove_query_logger(_log_query)
            attached.discard(driver)

    listeners = [(pool, "checkout", attach), (pool, "checkin", detach)]
    try:
        with _watching(listeners) as found:
            yield found
    finally:
        for driver in attached:
            driver.remove_query_logger(_log_query)
