"""UTCDateTime (platform/db.py): instants stored in UTC and read back aware, in UTC. Its fused
processors do what its `process_bind_param` / `process_result_value` and the driver type's own
processing do, on both databases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import Column, MetaData, String, Table, insert, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

from flightdeck.platform.db import UTCDateTime

pytestmark = pytest.mark.asyncio(loop_scope="session")

_TYPE = UTCDateTime()
_DIALECTS = {"sqlite": sqlite.aiosqlite.dialect(), "postgres": postgresql.asyncpg.dialect()}
_INSTANTS = [
    datetime(2026, 12, 2, 3, 22, 56, 245999, tzinfo=UTC),
    datetime(2026, 3, 29, 1, 30, tzinfo=timezone(timedelta(hours=2))),  # another zone
    datetime(2026, 3, 29, 0, 0, tzinfo=UTC),  # later, though its local time is earlier
    datetime(1999, 12, 31, 23, 59, 59, tzinfo=timezone(timedelta(hours=-5, minutes=-30))),
    datetime(999, 1, 2, 3, 4, 5, 6, tzinfo=UTC),  # a year of three digits
]


def _chained(dialect: Dialect) -> tuple[Any, Any]:
    """TypeDecorator's own processors: the `process_*` methods and the driver type's."""
    typed = _TYPE.dialect_impl(dialect)
    return (
        TypeDecorator.bind_processor(typed, dialect),
        TypeDecorator.result_processor(typed, dialect, None),
    )


@pytest.mark.parametrize("name", sorted(_DIALECTS))
async def test_the_fused_processors_do_what_the_methods_do(name: str) -> None:
    dialect = _DIALECTS[name]
    typed = _TYPE.dialect_impl(dialect)
    bind, result = typed.bind_processor(dialect), typed.result_processor(dialect, None)
    chained_bind, chained_result = _chained(dialect)
    for instant in _INSTANTS:
        stored = bind(instant)
        assert stored == chained_bind(instant)
        read = result(stored)
        assert read == instant and read.tzinfo is UTC
        assert read == chained_result(stored)
    assert bind(None) is None and result(None) is None
    with pytest.raises(ValueError, match="naive datetime"):
        bind(datetime(2026, 1, 1))


async def test_sqlite_text_with_a_zone_or_without_a_time_is_read_in_utc() -> None:
    dialect = _DIALECTS["sqlite"]
    result = _TYPE.dialect_impl(dialect).result_processor(dialect, None)
    assert result("2026-12-02 05:00:00+02:00") == datetime(2026, 12, 2, 3, 0, tzinfo=UTC)
    assert result("2026-12-02") == datetime(2026, 12, 2, tzinfo=UTC)
    assert result("2026-12-02 03:22:56") == datetime(2026, 12, 2, 3, 22, 56, tzinfo=UTC)


async def test_an_instant_reads_back_in_utc_from_the_database(app: FastAPI) -> None:
    table = Table(
        "utc_datetime_probe",
        MetaData(),
        Column("id", String(8), primary_key=True),
        Column("at", UTCDateTime()),
    )
    async with app.state.engine.begin() as conn:
        await conn.run_sync(table.create)
    try:
        async with app.state.engine.begin() as conn:
            rows = [{"id": str(i), "at": at} for i, at in enumerate([*_INSTANTS, None])]
            await conn.execute(insert(table), rows)
            read = dict((await conn.execute(select(table.c.id, table.c.at))).all())
            # Stored as UTC: the database orders them as instants.
            by_time = text("SELECT id FROM utc_datetime_probe WHERE at IS NOT NULL ORDER BY at")
            ordered = list((await conn.execute(by_time)).scalars())
    finally:
        async with app.state.engine.begin() as conn:
            await conn.run_sync(table.drop)
    assert [read[str(i)] for i in range(len(_INSTANTS))] == _INSTANTS
    assert all(read[str(i)].tzinfo is UTC for i in range(len(_INSTANTS)))
    assert read[str(len(_INSTANTS))] is None
    assert ordered == [str(i) for i in sorted(range(len(_INSTANTS)), key=_INSTANTS.__getitem__)]
