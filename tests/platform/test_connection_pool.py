"""The PostgreSQL pool checks a connection before use only after it sat idle: a connection the
server ended meanwhile is replaced without the caller seeing an error."""

from __future__ import annotations

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine
from tests.conftest import make_settings

from flightdeck.platform import db

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def _end_server_process(url: str, pid: int) -> None:
    """Ends one backend, as a server restart or an idle-connection killer would."""
    connection = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        await connection.execute("SELECT pg_terminate_backend($1)", pid)
    finally:
        await connection.close()


async def _pooled_backend(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        pid: int = await conn.scalar(text("SELECT pg_backend_pid()"))
    return pid


async def test_an_idle_connection_the_server_ended_is_replaced_unseen(
    postgres_root_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = db.create_engine(make_settings(postgres_root_url))
    try:
        ended = await _pooled_backend(engine)
        await _end_server_process(postgres_root_url, ended)
        monkeypatch.setattr(db, "IDLE_BEFORE_PING_SECONDS", 0.0)  # it has been idle long enough

        async with engine.connect() as conn:
            pid = await conn.scalar(text("SELECT pg_backend_pid()"))

        assert pid != ended
    finally:
        await engine.dispose()


async def test_a_connection_in_steady_use_is_not_checked_first(
    postgres_root_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = db.create_engine(make_settings(postgres_root_url))
    try:
        ended = await _pooled_backend(engine)
        await _end_server_process(postgres_root_url, ended)
        monkeypatch.setattr(db, "IDLE_BEFORE_PING_SECONDS", 3600.0)  # used a moment ago

        with pytest.raises(DBAPIError):  # no round trip was spent checking it
            async with engine.connect() as conn:
                await conn.scalar(text("SELECT 1"))
    finally:
        await engine.dispose()
