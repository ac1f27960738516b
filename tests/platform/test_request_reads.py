"""A GET reads statement by statement: no BEGIN and no COMMIT sent (platform/db.py,
`get_session`); a writing request keeps its one transaction; and nothing on a read-only
connection writes (the suite-wide check of tests/conftest.py)."""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import event, text
from tests import conftest
from tests.conftest import TestUser
from tests.statements import statements_sent

from flightdeck.platform.db import READ_ONLY

pytestmark = pytest.mark.asyncio(loop_scope="session")

_WATCHING: contextvars.ContextVar[list[str] | None] = contextvars.ContextVar(
    "watching_transaction_control", default=None
)


def _log_query(record: Any) -> None:
    # asyncpg calls query loggers with call_soon, in the context of the task that sent it.
    sent = _WATCHING.get()
    if sent is not None:
        sent.append(record.query)


@contextmanager
def postgres_queries(app: FastAPI) -> Iterator[list[str]]:
    """Every query the calling task sends to PostgreSQL while the block runs, as asyncpg sees
    it: BEGIN and COMMIT too (they are not cursor executions for SQLAlchemy)."""
    pool = app.state.engine.sync_engine.pool

    def attach(dbapi_connection: Any, *_: Any) -> None:
        dbapi_connection.driver_connection.add_query_logger(_log_query)

    def detach(dbapi_connection: Any, *_: Any) -> None:
        dbapi_connection.driver_connection.remove_query_logger(_log_query)

    sent: list[str] = []
    event.listen(pool, "checkout", attach)
    event.listen(pool, "checkin", detach)
    token = _WATCHING.set(sent)
    try:
        yield sent
    finally:
        _WATCHING.reset(token)
        event.remove(pool, "checkout", attach)
        event.remove(pool, "checkin", detach)


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
        with statements_sent(app) as statements:
            yield found
        found.extend(s.split()[0].upper() for s, _ in statements if s.startswith("BEGIN"))


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
