"""The Alembic migrations build exactly the schema the models describe, on both backends."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from fastapi import FastAPI
from sqlalchemy.engine import Connection

from flightdeck.model_registry import Base
from flightdeck.platform.partitions import partition_names

pytestmark = pytest.mark.asyncio(loop_scope="session")


def _diff(connection: Connection) -> list[object]:
    partitions = partition_names(connection)  # PostgreSQL: part of their parent table

    def include_name(name: str | None, type_: str, _: object) -> bool:
        return not (type_ == "table" and name in partitions)

    opts = {"compare_type": True, "include_name": include_name}
    context = MigrationContext.configure(connection, opts=opts)
    return list(compare_metadata(context, Base.metadata))


async def test_migrated_schema_matches_the_models(app: FastAPI, backend: str) -> None:
    async with app.state.engine.connect() as conn:
        diff = await conn.run_sync(_diff)
    assert diff == [], f"{backend}: models and migrations differ: {diff}"


async def test_migrations_are_at_the_single_head(app: FastAPI) -> None:
    from alembic.script import ScriptDirectory

    from flightdeck.platform.migrations import alembic_config

    script = ScriptDirectory.from_config(alembic_config(app.state.settings))
    heads = script.get_heads()
    assert len(heads) == 1

    def current(connection: Connection) -> str | None:
        return MigrationContext.configure(connection).get_current_revision()

    async with app.state.engine.connect() as conn:
        assert await conn.run_sync(current) == heads[0]
