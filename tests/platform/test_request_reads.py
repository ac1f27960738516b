"""A GET reads statement by statement: no BEGIN and no COMMIT sent (platform/db.py,
`get_session`), its session only closed; a writing request keeps its one transaction; and
nothing on a read-only connection writes (the suite-wide check of tests/conftest.py)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request
from sqlalchemy import event, func, select, text
from sqlalchemy.ext.asyncio import AsyncConnection
from tests import conftest
from tests.conftest import TestUser
from tests.loop_turns import LoopTurns
from tests.statements import postgres_queries, sqlite_begins

from flightdeck.platform.clock import utcnow
from flightdeck.platform.db import READ_ONLY, read_connection, request_session
from flightdeck.platform.events.consumers import ProcessedEvent

pytestmark = pytest.mark.asyncio(loop_scope="session")


def _command(query: str) -> str:
    return query.split()[0].rstrip(";").upper()


@asynccontextmanager
async def transaction_control(app: FastAPI, backend: str) -> AsyncIterator[list[str]]:
    """The BEGINs and COMMITs the calling task sends while the block runs. SQLite's COMMIT is
    the driver's own call, not a statement: its BEGINs only."""
    found: list[str] = []
    if backend == "postgres":
        with postgres_queries(app) as sent:
            yield found
            await asyncio.sleep(0)  # the loggers asyncpg scheduled with call_soon run
        found.extend(_command(q) for q in sent if _command(q) in _CONTROL)
    else:
        with sqlite_begins(app) as begins:
            yield found
        found.extend(begin.split()[0] for begin in begins)


_CONTROL = {"BEGIN", "COMMIT", "ROLLBACK"}


async def test_a_get_sends_no_begin_or_commit_and_a_write_keeps_its_transaction(
    app: FastAPI, client: httpx.AsyncClient, passenger: TestUser, backend: str
) -> None:
    async with transaction_control(app, backend) as read:
        response = await client.get("/profile", headers=passenger.headers)
    assert response.status_code == 200
    assert read == []

    async with transaction_control(app, backend) as write:
        response = await client.patch(
            "/profile", json={"full_name": "Ada Byron"}, headers=passenger.headers
        )
    assert response.status_code == 200
    assert write == (["BEGIN", "COMMIT"] if backend == "postgres" else ["BEGIN"])
    # And the read that follows sees the write.
    response = await client.get("/profile", headers=passenger.headers)
    assert response.json()["full_name"] == "Ada Byron"


async def test_a_write_or_a_lock_on_a_read_only_connection_fails_the_test_that_made_it(
    app: FastAPI,
) -> None:
    write = "UPDATE users SET full_name = full_name WHERE 1 = 0"
    lock = "SELECT id FROM users WHERE 1 = 0 FOR UPDATE"
    async with app.state.engine.connect() as conn:
        await conn.execution_options(**{READ_ONLY: True})
        for statement in (write, lock):
            with pytest.raises(AssertionError, match="a read-only connection wrote"):
                await conn.execute(text(statement))
        await conn.execute(text("SELECT id FROM users WHERE 1 = 0"))  # a read passes
        await conn.rollback()
    assert [write, lock] == conftest.READ_ONLY_WRITES
    del conftest.READ_ONLY_WRITES[:]  # seen: this test's own statements are not a failure


async def test_a_read_session_is_closed_not_committed_and_refuses_changed_objects(
    app: FastAPI, backend: str
) -> None:
    request = Request({"type": "http", "method": "GET", "app": app, "headers": []})
    async with transaction_control(app, backend) as control, request_session(request) as session:
        connection = await session.connection()
        await session.execute(text("SELECT 1"))
    assert control == []
    assert connection.closed  # the session was closed: its connection went back to the pool

    event_id = "a-get-wrote-this"
    with pytest.raises(RuntimeError, match="a GET request changed ORM objects"):
        async with request_session(request) as session:
            session.add(
                ProcessedEvent(consumer="test", event_id=event_id, event_occurred_at=utcnow())
            )
            connection = await session.connection()
    assert connection.closed
    async with app.state.engine.connect() as conn:
        found = await conn.scalar(select(func.count()).where(ProcessedEvent.event_id == event_id))
    assert found == 0


async def test_a_read_is_closed_in_the_requests_own_turn_of_the_event_loop(
    app: FastAPI,
) -> None:
    """SQLAlchemy's `async with` closes in a task of its own (three turns of the loop, each
    as long as whatever else runs in it); a read's session and connection close in place."""
    request = Request({"type": "http", "method": "GET", "app": app, "headers": []})
    async with request_session(request) as session:
        await session.execute(text("SELECT 1"))
        connection = await session.connection()
        closing = LoopTurns()
        closing.start()
    assert closing.stop() == 0
    assert connection.closed

    async with read_connection(app.state.engine) as conn:
        await conn.execute(text("SELECT 1"))
        closing = LoopTurns()
        closing.start()
    assert closing.stop() == 0
    assert conn.closed


async def test_a_session_or_connection_left_by_an_error_or_a_cancellation_goes_back_to_the_pool(
    app: FastAPI, backend: str
) -> None:
    # Followed by identity, not by the pool's count: the app's background workers check
    # connections out and in meanwhile (counts taken around them failed on a loaded machine).
    pool = app.state.engine.sync_engine.pool
    checked_in: list[object] = []

    def record_checkin(dbapi_connection: object, _record: object) -> None:
        checked_in.append(dbapi_connection)

    async def driver_connection(conn: AsyncConnection) -> object:
        return (await conn.get_raw_connection()).dbapi_connection

    post = Request({"type": "http", "method": "POST", "app": app, "headers": []})
    event.listen(pool, "checkin", record_checkin)
    try:
        with pytest.raises(LookupError):
            async with request_session(post) as session:
                await session.execute(text("SELECT 1"))
                in_session = await driver_connection(await session.connection())
                session_mark = len(checked_in)  # held here: none of those is it
                raise LookupError
        assert in_session in checked_in[session_mark:]

        entered = asyncio.Event()
        reading: list[Any] = []

        async def read_until_cancelled() -> None:
            async with read_connection(app.state.engine) as conn:
                await conn.execute(text("SELECT 1"))
                reading.append(await driver_connection(conn))
                reading.append(len(checked_in))
                entered.set()
                await asyncio.sleep(60)

        reader = asyncio.create_task(read_until_cancelled())
        await entered.wait()
        in_reader, reader_mark = reading
        reader.cancel()
        with pytest.raises(asyncio.CancelledError):
            await reader
        assert in_reader in checked_in[reader_mark:]
    finally:
        event.remove(pool, "checkin", record_checkin)
    async with read_connection(app.state.engine) as conn:  # the pool still serves
        assert await conn.scalar(text("SELECT 1")) == 1


async def test_an_uncached_search_reads_statement_by_statement(
    app: FastAPI, client: httpx.AsyncClient, backend: str
) -> None:
    """Its connection (`ReadDatabase.connect`, on a `read_engine`) is in autocommit and
    read-only from its checkout: no BEGIN, COMMIT or ROLLBACK sent."""
    query = {"origin": "JFK", "destination": "LHR", "date": utcnow().date().isoformat()}
    for max_stops in (0, 1):  # both of search's statements, on a fresh (uncached) query
        async with transaction_control(app, backend) as control:
            response = await client.get("/search", params=query | {"max_stops": max_stops})
        assert response.status_code == 200
        assert control == []
