"""On SQLite, writing requests take the write lock up front; GET requests do not queue for it."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text

from flightdeck.platform.db import READ_ONLY, create_engine, create_sessionmaker
from flightdeck.platform.settings import Settings

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_read_only_sessions_begin_deferred_and_others_immediate(tmp_path: Path) -> None:
    """What SQLite itself runs (its trace callback): each BEGIN goes with the transaction's
    first statement, in its trip (platform/sqlite_driver.py)."""
    engine = create_engine(Settings(database_url=f"sqlite+aiosqlite:///{tmp_path}/t.db"))
    ran: list[str] = []
    maker = create_sessionmaker(engine)
    try:
        async with maker() as session:
            connection = await session.connection(execution_options={READ_ONLY: True})
            driver = (await connection.get_raw_connection()).driver_connection
            await driver.set_trace_callback(ran.append)
            await session.execute(text("SELECT 1"))
        async with maker() as session:
            await session.execute(text("SELECT 2"))
            await session.commit()
        async with maker() as session:
            await session.connection()  # begun, nothing run: nothing sent
            await session.commit()
    finally:
        await engine.dispose()
    # One pooled connection throughout: the read-only session ends with its rollback.
    assert ran == ["BEGIN", "SELECT 1", "ROLLBACK", "BEGIN IMMEDIATE", "SELECT 2", "COMMIT"]
