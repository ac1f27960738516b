"""A direct-only search on SQLite reads its one brief statement on the connection brief reads
share (platform/brief_reads.py), checking nothing out of the pool; a one-stop search there,
and the punctuality the cache lacks, and every search on PostgreSQL, on one of the
connections search keeps (platform/kept_reads.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import Integer, bindparam, event, func, select, text
from sqlalchemy.exc import DBAPIError

from flightdeck.flights.status.service import forget_punctuality
from flightdeck.platform.brief_reads import SharedBriefConnection
from flightdeck.platform.compiled_reads import CompiledRead
from flightdeck.platform.db import SHARED_BRIEF, create_engine, read_engine
from flightdeck.platform.replica import ReadDatabase
from flightdeck.platform.settings import Settings
from flightdeck.search import service
from flightdeck.search.schemas import SearchQuery
from tests.conftest import TestUser as AppUser
from tests.search.factories import add_flight

pytestmark = pytest.mark.asyncio(loop_scope="session")

DAY = "2026-02-10"


@contextmanager
def checkouts(app: FastAPI) -> Iterator[list[Any]]:
    """The connections the app's pool hands out to the calling task while the block runs
    (not to the app's background workers)."""
    handed: list[Any] = []
    caller = asyncio.current_task()

    def checkout(dbapi_connection: Any, *_: Any) -> None:
        if asyncio.current_task() is caller:
            handed.append(dbapi_connection)

    pool = app.state.engine.sync_engine.pool
    event.listen(pool, "checkout", checkout)
    try:
        yield handed
    finally:
        event.remove(pool, "checkout", checkout)


async def test_a_direct_search_on_sqlite_checks_out_no_pooled_connection(
    app: FastAPI, client: httpx.AsyncClient, agent: AppUser, backend: str
) -> None:
    await add_flight(
        client, agent.headers, "FD1", "JFK", "SFO", f"{DAY}T09:00:00-05:00", f"{DAY}T12:30:00-08:00"
    )
    reads, settings = app.state.reads, app.state.settings
    query = SearchQuery(origin="JFK", destination="SFO", date=date.fromisoformat(DAY), max_stops=0)
    await service.search_document(reads, query, settings)  # whatever ran before
    await forget_punctuality(["FD1"])
    shared = await reads.brief_connection()
    with checkouts(app) as missing_punctuality:
        first = await service.search_document(reads, query, settings)
    with checkouts(app) as cached_punctuality:
        again = await service.search_document(reads, query, settings)

    assert again == first
    assert [[s["flight_number"] for s in i["segments"]] for i in first["itineraries"]] == [["FD1"]]
    assert first["itineraries"][0]["segments"][0]["punctuality"]["flights_observed"] == 0
    assert await reads.brief_connection() is shared  # the same one each time
    if backend == "sqlite":
        assert shared is not None
        assert shared.sync_connection.get_execution_options()[SHARED_BRIEF]
        assert missing_punctuality == []  # the punctuality's read on a kept connection
        assert cached_punctuality == []
    else:  # one of the connections search keeps (platform/kept_reads.py), the same each time
        assert shared is None
        assert missing_punctuality == []  # the search's read, and the punctuality's on it
        assert cached_punctuality == []


async def test_a_one_stop_search_reads_on_a_kept_connection(
    app: FastAPI, client: httpx.AsyncClient, agent: AppUser
) -> None:
    await add_flight(
        client, agent.headers, "FD1", "JFK", "SFO", f"{DAY}T09:00:00-05:00", f"{DAY}T12:30:00-08:00"
    )
    query = SearchQuery(origin="JFK", destination="SFO", date=date.fromisoformat(DAY))
    reads, settings = app.state.reads, app.state.settings
    await service.search_document(reads, query, settings)
    with checkouts(app) as handed:
        answer = await service.search_document(reads, query, settings)
    assert len(answer["itineraries"]) == 1
    # The connection the first search kept (platform/kept_reads.py); on SQLite not the shared
    # one: its candidates go to the connection's thread.
    assert handed == []


@pytest.fixture
def sqlite_settings(tmp_path: Path) -> Settings:
    return Settings(database_url=f"sqlite+aiosqlite:///{tmp_path}/t.db")


_ONE = CompiledRead(select(func.abs(bindparam("value", type_=Integer))), brief=True)
_IN_A_THREAD = CompiledRead(select(func.abs(bindparam("value", type_=Integer))))


async def test_the_shared_connection_runs_brief_reads_only_and_is_given_back(
    sqlite_settings: Settings,
) -> None:
    engine = create_engine(sqlite_settings)
    shared = SharedBriefConnection(read_engine(engine))
    pool = engine.sync_engine.pool
    try:
        conn = await shared.get()
        assert conn is not None and await shared.get() is conn  # one, kept
        assert pool.checkedout() == 1  # type: ignore[attr-defined]
        assert [tuple(r) for r in await _ONE.rows(conn, {"value": -3})] == [(3,)]
        with pytest.raises(RuntimeError, match="only a brief read"):
            await _IN_A_THREAD.rows(conn, {"value": -3})  # it would await its thread
        await shared.close()
        assert pool.checkedout() == 0  # type: ignore[attr-defined]
    finally:
        await engine.dispose()


async def test_a_failed_read_drops_the_shared_connection_and_the_next_opens_another(
    sqlite_settings: Settings,
) -> None:
    engine = create_engine(sqlite_settings)
    shared = SharedBriefConnection(read_engine(engine))
    failing = CompiledRead(select(text("no_such_column")), brief=True)
    try:
        first = await shared.get()
        assert first is not None
        with pytest.raises(DBAPIError):
            await failing.rows(first, {})
        second = await shared.get()
        assert second is not None and second is not first and not second.invalidated
        assert [tuple(r) for r in await _ONE.rows(second, {"value": 2})] == [(2,)]
        assert engine.sync_engine.pool.checkedout() == 1  # type: ignore[attr-defined]
        await shared.close()
    finally:
        await engine.dispose()


async def test_another_event_loop_gets_no_shared_connection(sqlite_settings: Settings) -> None:
    engine = create_engine(sqlite_settings)
    shared = SharedBriefConnection(read_engine(engine))
    try:
        assert await shared.get() is not None

        def in_another_loop() -> Any:
            return asyncio.run(shared.get())

        assert await asyncio.to_thread(in_another_loop) is None
        await shared.close()
    finally:
        await engine.dispose()


@pytest.mark.parametrize(
    ("url", "pool_size", "shared", "kept"),
    [
        ("file", 10, True, 4),
        ("file", 3, True, 1),
        ("file", 2, True, 0),
        ("file", 1, False, 0),
        ("sqlite+aiosqlite:///:memory:", 10, False, 0),
    ],
)
async def test_connections_are_shared_or_kept_only_while_the_pool_has_others(
    tmp_path: Path, url: str, pool_size: int, shared: bool, kept: int
) -> None:
    database = f"sqlite+aiosqlite:///{tmp_path}/t.db" if url == "file" else url
    settings = Settings(database_url=database, database_pool_size=pool_size)
    engine = create_engine(settings)
    reads = ReadDatabase(settings, engine)
    try:
        # A connection held for good leaves one in the pool besides: every other read and
        # write would wait for the last.
        assert (await reads.brief_connection() is not None) is shared
        lent = [reads.connect(kept=True) for _ in range(max(kept, 1))]
        for block in lent:  # at once
            await block.__aenter__()
        for block in lent:
            await block.__aexit__(None, None, None)
        keeper = reads._kept  # search's kept connections (platform/kept_reads.py)
        assert (0 if keeper is None else keeper._keep) == kept
        assert (0 if keeper is None else keeper.held) == kept
        if url == "file":
            pool = engine.sync_engine.pool
            assert pool.checkedout() == shared + kept  # type: ignore[attr-defined]
    finally:
        await reads.close()
        await engine.dispose()
