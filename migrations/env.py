"""Alembic environment: async engine, the same migrations for SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection

from flightdeck.model_registry import Base
from flightdeck.platform.db import create_engine
from flightdeck.platform.settings import Settings, get_settings

config = context.config
target_metadata = Base.metadata


def _settings() -> Settings:
    url = config.attributes.get("database_url")
    return Settings(database_url=url) if url else get_settings()


def _configure(connection: Connection) -> None:
    if connection.dialect.name == "sqlite":
        # SQLite rebuilds a table to change its constraints (batch mode); dropping the old copy
        # of a table others reference would fire their ON DELETE actions. SQLite's documented
        # procedure: foreign keys off, outside any transaction (a raw cursor, before the
        # connection begins one), and `PRAGMA foreign_key_check` after the rebuild (the
        # migration does it). The connection is disposed of after the migrations.
        cursor = connection.connection.cursor()
        cursor.execute("PRAGMA foreign_keys=OFF")
        cursor.close()
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        # SQLite cannot ALTER most things in place: batch mode rebuilds the table.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_async() -> None:
    engine = create_engine(_settings())
    async with engine.connect() as connection:
        await connection.run_sync(_configure)
    await engine.dispose()


def run_migrations_offline() -> None:
    context.configure(
        url=_settings().database_url,
        target_metadata=target_metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    asyncio.run(_run_async())
