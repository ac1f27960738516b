"""On SQLite, writing requests take the write lock up front; GET requests do not queue for it."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import event

from flightdeck.platform.db import READ_ONLY, create_engine, create_sessionmaker
from flightdeck.platform.settings import Settings

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_read_only_sessions_begin_deferred_and_others_immediate(tmp_path: Path) -> None:
    engine = create_engine(Settings(database_url=f"sqlite+aiosqlite:///{tmp_path}/t.db"))
    begins: list[str] = []

    @event.listens_for(engine.sync_engine, "before_cursor_execute")
    def record(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        if statement.startswith("BEGIN"):
            begins.append(statement)

    maker = create_sessionmaker(engine)
    try:
        async with maker() as session:
            await session.connection(execution_options={READ_ONLY: True})
        async with maker() as session:
            await session.connection()
    finally:
        await engine.dispose()
    assert begins == ["BEGIN", "BEGIN IMMEDIATE"]
