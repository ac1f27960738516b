"""When the database does not answer (stopped, restarting, its connections dropped), a request
that needs it is a 503 `service_unavailable` with `Retry-After`, in the one error shape, never
the 500 of a bug (platform/errors.dependency_unavailable, platform/middleware.py); and the
server answers again once the database does, with no restart of its own. Against a PostgreSQL
of this module's own, stopped and started for real; the errors told apart are those the real
drivers raise."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from tests.conftest import assert_unavailable, make_settings
from tests.platform.test_read_replica import app_of, served_app
from tests.servers.postgres import PostgresServer, running_postgres

from flightdeck.platform.errors import dependency_unavailable
from flightdeck.platform.migrations import upgrade_database
from flightdeck.platform.settings import Settings

pytestmark = pytest.mark.asyncio(loop_scope="session")

SEARCH = "/search?origin=JFK&destination=SFO&date=2026-02-10"


@pytest.fixture(scope="module")
def own_postgres() -> Iterator[PostgresServer]:
    """A server this module stops and starts: no other test uses it."""
    with running_postgres() as server:
        yield server


@pytest.fixture(scope="module")
def down_settings(own_postgres: PostgresServer) -> Settings:
    settings = make_settings(own_postgres.create_database("flightdeck_down")).model_copy(
        update={
            "search_cache_seconds": 0,  # every search reads the database
            # No background worker reading meanwhile: the requests alone meet the outage.
            "relay_interval_seconds": 0,
            "payment_reconcile_seconds": 0,
            "payment_refund_poll_seconds": 0,
        }
    )
    upgrade_database(settings)
    return settings


def assert_service_unavailable(response: httpx.Response) -> None:
    error = assert_unavailable(response, "service_unavailable")
    assert error["details"] == {"retry_after_seconds": 5}


def registration(n: int) -> dict[str, str]:
    return {
        "email": f"traveller{n}@example.com",
        "password": "Correct-Horse-Battery-9",
        "full_name": f"Traveller {n}",
    }


async def test_while_the_database_is_down_requests_are_503_and_answered_once_it_is_back(
    own_postgres: PostgresServer, down_settings: Settings
) -> None:
    async with served_app(down_settings) as http:
        assert (await http.get(SEARCH)).status_code == 200  # a connection pooled and kept
        own_postgres.stop()
        try:
            # The connection kept from before, dropped by the stop; then a new one, refused.
            assert_service_unavailable(await http.get(SEARCH))
            assert_service_unavailable(await http.get(SEARCH))
            assert_service_unavailable(await http.post("/register", json=registration(1)))
            assert (await http.get("/healthz")).status_code == 200  # alive, only not ready
            assert (await http.get("/readyz")).status_code == 503
        finally:
            own_postgres.restart()
        assert (await http.get(SEARCH)).status_code == 200
        assert (await http.post("/register", json=registration(1))).status_code == 201
    rows = await _scalar(down_settings.database_url, "SELECT count(*) FROM users")
    assert rows == 1  # the refused registration wrote nothing; the later one, once


@pytest.mark.parametrize("kept", [4, 0])  # search keeps connections, or checks each out
async def test_after_a_restart_one_request_finds_the_dropped_connections_not_each(
    own_postgres: PostgresServer, down_settings: Settings, kept: int
) -> None:
    """The server restarts under connections all in recent use (no idle ping): the first
    search meets a dropped one (503), and every other connection the pool opened before is
    dropped with it (platform/db.connection_lost), so the next searches reconnect."""
    async with served_app(down_settings, database_search_connections=kept) as http:
        # Several at once: more connections than one open, in the pool or kept by search.
        first = await asyncio.gather(*(http.get(SEARCH) for _ in range(8)))
        assert [response.status_code for response in first] == [200] * 8
        pool = app_of(http).state.engine.sync_engine.pool
        assert pool.checkedin() + pool.checkedout() >= 2
        own_postgres.restart()
        after = [await http.get(SEARCH) for _ in range(8)]
        assert_service_unavailable(after[0])
        assert [response.status_code for response in after[1:]] == [200] * 7


async def _scalar(url: str, sql: str) -> Any:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            return await conn.scalar(text(sql))
    finally:
        await engine.dispose()


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def _error_of(url: str, sql: str, **engine_options: Any) -> BaseException:
    engine = create_async_engine(url, **engine_options)
    try:
        async with engine.connect() as conn:
            await conn.execute(text(sql))
    except Exception as error:
        return error
    finally:
        await engine.dispose()
    raise AssertionError(f"{sql!r} on {url} raised nothing")


async def test_a_refused_or_unopenable_database_is_unavailable(tmp_path: Path) -> None:
    refused = await _error_of(f"postgresql+asyncpg://u@127.0.0.1:{_closed_port()}/x", "SELECT 1")
    assert isinstance(refused, ConnectionRefusedError)
    assert dependency_unavailable(refused)
    missing_dir = tmp_path / "no-such-directory" / "flightdeck.db"
    unopenable = await _error_of(f"sqlite+aiosqlite:///{missing_dir}", "SELECT 1")
    assert dependency_unavailable(unopenable)  # SQLITE_CANTOPEN
    wrapped = RuntimeError("while booking")
    wrapped.__cause__ = refused
    assert dependency_unavailable(wrapped)  # raised from it


async def test_a_statement_s_own_error_is_not_unavailability(
    own_postgres: PostgresServer, down_settings: Settings, tmp_path: Path
) -> None:
    sqlite_url = f"sqlite+aiosqlite:///{tmp_path / 'own.db'}"
    for url in (down_settings.database_url, sqlite_url):
        for sql in ("SELECT no_such_column", "SELEC 1", "SELECT 1/0 FROM no_such_table"):
            error = await _error_of(url, sql)
            assert not dependency_unavailable(error), (url, sql, error)
    assert not dependency_unavailable(RuntimeError("a bug"))


async def test_no_pooled_connection_free_in_time_is_unavailable(tmp_path: Path) -> None:
    engine = create_async_engine(
        f"sqlite+aiosqlite:///{tmp_path / 'pool.db'}",
        pool_size=1,
        max_overflow=0,
        pool_timeout=0.05,
    )
    try:
        async with engine.connect():
            with pytest.raises(Exception) as raised:
                async with engine.connect():
                    pass
        assert dependency_unavailable(raised.value)
    finally:
        await engine.dispose()
