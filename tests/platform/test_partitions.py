"""Monthly partitions of the tables that only grow (platform/partitions.py, data_layout.py) on a
real PostgreSQL: the migration partitions them, a row no month covers waits in the default
partition and moves into its month when that is created, expired months are dropped but never one
holding an unpublished event, and `flightdeck partitions` does it with a summary (a dry run
changes nothing). SQLite keeps plain tables. The migration goes down and up again keeping the
rows, on both databases."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import TypeVar

import pytest
from alembic import command
from alembic.script import ScriptDirectory
from click.testing import Result
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.engine import Connection
from tests.cli_support import cli_on_database, invoke
from tests.conftest import make_settings

from flightdeck.platform.clock import utcnow
from flightdeck.platform.db import create_engine
from flightdeck.platform.migrations import alembic_config
from flightdeck.platform.partitions import (
    Maintenance,
    add_months,
    maintain,
    month_partition_name,
    month_start,
    partitions_of,
)
from flightdeck.platform.settings import Settings

postgres_only = pytest.mark.parametrize("settings", ["postgres"], indirect=True)


T = TypeVar("T")


async def _run(app: FastAPI, work: Callable[[Connection], T]) -> T:
    async with app.state.engine.begin() as conn:
        return await conn.run_sync(work)


def _outbox_row(conn: Connection, created_at: datetime, *, published: bool) -> str:
    event_id = str(uuid.uuid4())
    conn.execute(
        text(
            "INSERT INTO outbox_events (id, event_type, aggregate_type, aggregate_id, payload, "
            "created_at, published_at, attempts) VALUES (:id, 'test.event', 'test', 'x', '{}', "
            ":created, :published, 0)"
        ),
        {"id": event_id, "created": created_at, "published": created_at if published else None},
    )
    return event_id


def _home(conn: Connection, event_id: str) -> str:
    """The partition an outbox row is stored in."""
    query = text("SELECT tableoid::regclass::text FROM outbox_events WHERE id = :id")
    return str(conn.scalar(query, {"id": event_id}))


@postgres_only
async def test_the_growing_tables_are_partitioned_by_month_with_a_default(app: FastAPI) -> None:
    def names(conn: Connection) -> dict[str, list[str]]:
        tables = ("outbox_events", "processed_events", "flight_status_changes")
        return {t: [p.name for p in partitions_of(conn, t)] for t in tables}

    found = await _run(app, names)
    this_month = month_start(utcnow())
    for table, partitions in found.items():
        assert partitions[-1] == f"{table}_default"
        for ahead in range(3):  # the migration made this month and two more
            assert month_partition_name(table, add_months(this_month, ahead)) in partitions


@postgres_only
async def test_a_row_beyond_the_months_waits_in_the_default_and_moves_to_its_month(
    app: FastAPI, client: object
) -> None:
    far = utcnow() + timedelta(days=300)

    def scenario(conn: Connection) -> tuple[str, str, list[str]]:
        event_id = _outbox_row(conn, far, published=False)
        before = _home(conn, event_id)
        result = maintain(
            conn, "outbox_events", "created_at", now=utcnow(), months_ahead=11, retention_days=0
        )
        return before, _home(conn, event_id), result.created

    before, after, created = await _run(app, scenario)
    assert before == "outbox_events_default"
    assert after == month_partition_name("outbox_events", month_start(far))
    assert after in created


@postgres_only
async def test_expired_months_are_dropped_unless_an_event_is_unpublished(
    app: FastAPI, client: object
) -> None:
    now = utcnow()
    published_month = add_months(month_start(now), -4)
    unpublished_month = add_months(month_start(now), -3)

    def scenario(conn: Connection) -> tuple[tuple[Maintenance, str], list[str]]:
        for month in (published_month, unpublished_month):
            maintain(
                conn, "outbox_events", "created_at", now=datetime.combine(
                    month, datetime.min.time(), now.tzinfo
                ), months_ahead=0, retention_days=0,
            )  # fmt: skip
        when = datetime.combine(published_month, datetime.min.time(), now.tzinfo)
        _outbox_row(conn, when + timedelta(days=2), published=True)
        kept_event = _outbox_row(conn, when + timedelta(days=33), published=False)
        result = maintain(
            conn, "outbox_events", "created_at", now=now, months_ahead=3, retention_days=30,
            keep_while="published_at IS NULL",
        )  # fmt: skip
        names = [p.name for p in partitions_of(conn, "outbox_events")]
        return (result, _home(conn, kept_event)), names

    (result, kept_home), names = await _run(app, scenario)
    dropped = month_partition_name("outbox_events", published_month)
    kept = month_partition_name("outbox_events", unpublished_month)
    assert dropped in result.dropped and dropped not in names
    assert result.kept == [kept] and kept in names
    assert kept_home == kept


@pytest.fixture
def cli_env(settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    with cli_on_database(settings, tmp_path, monkeypatch):
        yield


async def _invoke(*args: str) -> Result:
    return await invoke(["partitions", *args])


@postgres_only
async def test_the_command_creates_the_months_ahead_and_a_dry_run_changes_nothing(
    app: FastAPI, cli_env: None
) -> None:
    ahead = add_months(month_start(utcnow()), 7)
    name = month_partition_name("processed_events", ahead)

    def exists(conn: Connection) -> bool:
        return bool(conn.scalar(text("SELECT to_regclass(:n) IS NOT NULL"), {"n": name}))

    label = f"{ahead:%Y-%m}"  # the summary names months: "5: 2027-03 … 2027-07"
    dry = await _invoke("--months-ahead", "7", "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert "dry run" in dry.output and label in dry.output
    assert await _run(app, exists) is False

    done = await _invoke("--months-ahead", "7")
    assert done.exit_code == 0, done.output
    assert "processed_events" in done.output and label in done.output
    assert await _run(app, exists) is True
    again = await _invoke("--months-ahead", "7")
    assert label not in again.output  # made once


@pytest.mark.parametrize("settings", ["sqlite"], indirect=True)
async def test_on_sqlite_there_is_nothing_to_partition(cli_env: None) -> None:
    result = await _invoke()
    assert result.exit_code == 0, result.output
    assert "nothing to partition" in result.output


# --- the migration both ways ------------------------------------------------------------------


@pytest.fixture
def fresh_settings(settings: Settings, backend: str, tmp_path: Path) -> Iterator[Settings]:
    """A database of its own (the round trip would disturb the session's)."""
    if backend == "sqlite":
        yield make_settings(f"sqlite+aiosqlite:///{tmp_path / 'roundtrip.db'}")
        return
    name = f"roundtrip_{uuid.uuid4().hex[:8]}"

    async def run(statement: str) -> None:
        engine = create_engine(settings)
        try:
            async with engine.connect() as conn:
                await conn.execution_options(isolation_level="AUTOCOMMIT")
                await conn.execute(text(statement))
        finally:
            await engine.dispose()

    asyncio.run(run(f'CREATE DATABASE "{name}"'))
    yield make_settings(settings.database_url.rsplit("/", 1)[0] + f"/{name}")
    asyncio.run(run(f'DROP DATABASE "{name}" WITH (FORCE)'))


def _rows(settings: Settings) -> tuple[int, int]:
    async def count() -> tuple[int, int]:
        engine = create_engine(settings)
        try:
            async with engine.connect() as conn:
                outbox = await conn.scalar(text("SELECT count(*) FROM outbox_events"))
                markers = await conn.scalar(text("SELECT count(*) FROM processed_events"))
        finally:
            await engine.dispose()
        return int(outbox or 0), int(markers or 0)

    return asyncio.run(count())


def _some_rows(settings: Settings) -> None:
    async def insert() -> None:
        engine = create_engine(settings)
        try:
            async with engine.begin() as conn:
                await conn.run_sync(_outbox_row, utcnow() - timedelta(days=40), published=True)
                await conn.execute(
                    text(
                        "INSERT INTO processed_events (consumer, event_id, event_occurred_at, "
                        "processed_at) VALUES ('emails', 'e-1', :at, :at)"
                    ),
                    {"at": utcnow()},
                )
        finally:
            await engine.dispose()

    asyncio.run(insert())


def test_the_migration_goes_down_and_up_again_keeping_the_rows(fresh_settings: Settings) -> None:
    config = alembic_config(fresh_settings)
    before_0012 = ScriptDirectory.from_config(config).get_revision("0012").down_revision
    assert isinstance(before_0012, str)
    command.upgrade(config, "head")
    _some_rows(fresh_settings)
    command.downgrade(config, before_0012)
    assert _rows(fresh_settings) == (1, 1)
    command.upgrade(config, "head")
    assert _rows(fresh_settings) == (1, 1)
