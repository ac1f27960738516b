"""SQLite statements cost one trip to aiosqlite's connection thread each, and behave as before.

The trips are counted on the real driver: every call aiosqlite makes to its thread goes through
the connection's queue, which the test wraps with a counter (the thread keeps reading the same
queue).
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import sys
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiosqlite
import pytest
import pytest_asyncio
from sqlalchemy import Integer, bindparam, event, func, select, text
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from flightdeck.platform.compiled_reads import CompiledRead
from flightdeck.platform.db import create_engine, read_connection
from flightdeck.platform.settings import Settings
from flightdeck.platform.sqlite_driver import (
    READ_SWITCH_INTERVAL,
    OneTripDbapi,
    lock_handed_back_promptly,
    loop_connection,
    one_trip_engine_arguments,
    read_in_loop,
)

on_loop = pytest.mark.asyncio(loop_scope="session")


class CountingQueue:
    """Passes every call for the driver's thread on to its queue, counting them."""

    def __init__(self, queue: Any) -> None:
        self.queue = queue
        self.trips = 0

    def put_nowait(self, item: Any) -> None:
        self.trips += 1
        self.queue.put_nowait(item)


@pytest_asyncio.fixture(loop_scope="session")
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(Settings(database_url=f"sqlite+aiosqlite:///{tmp_path}/t.db"))
    async with engine.begin() as conn:
        await conn.execute(text("CREATE TABLE seats (id INTEGER PRIMARY KEY, code TEXT UNIQUE)"))
    yield engine
    await engine.dispose()


async def counted(conn: AsyncConnection) -> CountingQueue:
    driver = (await conn.get_raw_connection()).driver_connection
    assert isinstance(driver, aiosqlite.Connection)
    counter = CountingQueue(driver._tx)
    driver._tx = counter  # type: ignore[assignment]
    return counter


@on_loop
async def test_the_app_engine_uses_the_one_trip_driver(engine: AsyncEngine) -> None:
    assert isinstance(engine.dialect.loaded_dbapi, OneTripDbapi)


@on_loop
async def test_a_read_is_one_trip_and_going_back_to_the_pool_none(engine: AsyncEngine) -> None:
    async with read_connection(engine) as conn:
        counter = await counted(conn)
        rows = (await conn.execute(text("SELECT 1 AS one, 'a' AS letter"))).all()
        assert counter.trips == 1
    assert counter.trips == 1  # no rollback: nothing was begun
    assert [tuple(row) for row in rows] == [(1, "a")]


@on_loop
async def test_a_transaction_is_a_trip_per_statement_its_begin_going_with_the_first(
    engine: AsyncEngine,
) -> None:
    async with engine.connect() as conn:
        counter = await counted(conn)
        async with conn.begin():
            result = await conn.execute(text("INSERT INTO seats (code) VALUES ('12A')"))
            assert result.rowcount == 1
            assert result.lastrowid == 1
            await conn.execute(
                text("INSERT INTO seats (code) VALUES (:code)"), [{"code": "12B"}, {"code": "12C"}]
            )
        assert counter.trips == 3  # BEGIN IMMEDIATE with the first statement, the second, COMMIT
    async with engine.connect() as conn:
        codes = (await conn.execute(text("SELECT code FROM seats ORDER BY id"))).scalars().all()
    assert codes == ["12A", "12B", "12C"]


@on_loop
async def test_a_transaction_that_runs_nothing_makes_no_trip(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        counter = await counted(conn)
        async with conn.begin():
            pass
        await conn.begin()
        await conn.rollback()
        assert counter.trips == 0
        assert not (await conn.get_raw_connection()).driver_connection.in_transaction


@on_loop
async def test_the_write_lock_is_taken_by_the_first_statements_trip(engine: AsyncEngine) -> None:
    async with engine.connect() as writer, engine.connect() as other:
        await _short_busy_timeout(other)
        await writer.begin()
        # Begun, nothing sent yet: another writer still gets the lock.
        async with other.begin():
            await other.execute(text("INSERT INTO seats (code) VALUES ('4A')"))
        # The first statement (a read) took it, with its BEGIN IMMEDIATE, before reading.
        assert (await writer.execute(text("SELECT count(*) FROM seats"))).scalar() == 1
        with pytest.raises(OperationalError, match="database is locked"):
            async with other.begin():
                await other.execute(text("INSERT INTO seats (code) VALUES ('4B')"))
        await writer.execute(text("INSERT INTO seats (code) VALUES ('4C')"))
        await writer.commit()
    async with engine.connect() as conn:
        codes = (await conn.execute(text("SELECT code FROM seats ORDER BY id"))).scalars().all()
    assert codes == ["4A", "4C"]


@on_loop
async def test_a_begin_that_finds_the_database_locked_fails_as_its_first_statement(
    engine: AsyncEngine,
) -> None:
    async with engine.connect() as holder, engine.connect() as other:
        await _short_busy_timeout(other)
        await holder.begin()
        await holder.execute(text("INSERT INTO seats (code) VALUES ('5A')"))
        with pytest.raises(OperationalError, match="database is locked"):
            async with other.begin():
                await other.execute(text("INSERT INTO seats (code) VALUES ('5B')"))
        assert not (await other.get_raw_connection()).driver_connection.in_transaction
        await holder.commit()
        async with other.begin():  # the same connection writes once the lock is free
            await other.execute(text("INSERT INTO seats (code) VALUES ('5C')"))
    async with engine.connect() as conn:
        codes = (await conn.execute(text("SELECT code FROM seats ORDER BY id"))).scalars().all()
    assert codes == ["5A", "5C"]


async def _short_busy_timeout(conn: AsyncConnection) -> None:
    driver = (await conn.get_raw_connection()).driver_connection
    await driver.execute("PRAGMA busy_timeout=100")


@on_loop
async def test_a_failed_statement_raises_the_drivers_error_and_rolls_back(
    engine: AsyncEngine,
) -> None:
    with pytest.raises(IntegrityError):
        async with engine.begin() as conn:
            await conn.execute(text("INSERT INTO seats (code) VALUES ('1A')"))
            await conn.execute(text("INSERT INTO seats (code) VALUES ('1A')"))
    with pytest.raises(OperationalError, match="no such table"):
        async with read_connection(engine) as conn:
            await conn.execute(text("SELECT * FROM nowhere"))
    async with read_connection(engine) as conn:
        assert (await conn.execute(text("SELECT count(*) FROM seats"))).scalar() == 0
        assert not (await conn.get_raw_connection()).driver_connection.in_transaction


@on_loop
async def test_a_rolled_back_transaction_leaves_nothing_and_the_connection_is_reused(
    engine: AsyncEngine,
) -> None:
    async with engine.connect() as conn:
        await conn.begin()
        await conn.execute(text("INSERT INTO seats (code) VALUES ('2A')"))
        await conn.rollback()
        assert (await conn.execute(text("SELECT count(*) FROM seats"))).scalar() == 0


@on_loop
async def test_a_task_cancelled_while_its_begin_runs_leaves_no_lock_behind(
    engine: AsyncEngine,
) -> None:
    started = asyncio.Event()

    async def begin_then_cancelled() -> None:
        async with engine.connect() as conn:
            driver = (await conn.get_raw_connection()).driver_connection
            # The connection's thread is busy for a moment, so the BEGIN is still queued when
            # the task is cancelled; the thread runs it anyway and takes the write lock.
            driver._tx.put_nowait((asyncio.get_running_loop().create_future(), _busy))
            started.set()
            await conn.exec_driver_sql("BEGIN IMMEDIATE")

    task = asyncio.create_task(begin_then_cancelled())
    await started.wait()
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    async with engine.connect() as other:
        await (await other.get_raw_connection()).driver_connection.execute(
            "PRAGMA busy_timeout=1000"
        )
        async with other.begin():  # BEGIN IMMEDIATE: "database is locked" if the lock leaked
            await other.execute(text("INSERT INTO seats (code) VALUES ('3A')"))


def _busy() -> None:
    time.sleep(0.3)


@on_loop
async def test_a_streamed_result_still_reads_every_row(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await conn.execute(
            text("INSERT INTO seats (code) VALUES (:code)"),
            [{"code": f"{row}A"} for row in range(1, 301)],
        )
    async with engine.connect() as conn:
        stream = await conn.stream(text("SELECT code FROM seats ORDER BY id"))
        codes = [row.code async for row in stream]
    assert len(codes) == 300 and codes[0] == "1A" and codes[-1] == "300A"


@on_loop
async def test_a_brief_read_finds_the_sqlite3_connection_or_makes_its_trip(
    engine: AsyncEngine,
) -> None:
    async with engine.connect() as conn:
        driver = (await conn.get_raw_connection()).driver_connection
        here = loop_connection(driver)
        assert here is driver._conn
        assert read_in_loop(here, "SELECT ? + 1", (41,)) == [(42,)]
    assert loop_connection(object()) is None  # an aiosqlite keeping it elsewhere: a trip


def test_other_drivers_keep_their_module() -> None:
    assert one_trip_engine_arguments("postgresql+asyncpg://u@localhost/db") == {}
    assert one_trip_engine_arguments("sqlite+pysqlite:///x.db") == {}
    assert isinstance(one_trip_engine_arguments("sqlite+aiosqlite:///x.db")["module"], OneTripDbapi)


def test_an_aiosqlite_without_the_internal_gets_the_stock_adapter(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.delattr(aiosqlite.Connection, "_execute")
    assert one_trip_engine_arguments("sqlite+aiosqlite:///x.db") == {}
    assert "stock adapter" in caplog.text


class Overlap:
    """A SQLite function that holds its thread for a moment and records how many of its calls
    ran at once."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.running = 0
        self.most = 0

    def __call__(self, value: int) -> int:
        with self.lock:
            self.running += 1
            self.most = max(self.most, self.running)
        time.sleep(0.05)
        with self.lock:
            self.running -= 1
        return value


@on_loop
@pytest.mark.parametrize("threads", [1, 2])
async def test_reads_in_threads_take_turns(tmp_path: Path, threads: int) -> None:
    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path}/t.db", database_sqlite_read_threads=threads
    )
    engine = create_engine(settings)
    overlap = Overlap()

    def register(dbapi_connection: Any, _record: Any) -> None:
        here = loop_connection(dbapi_connection.driver_connection)
        assert here is not None
        here.create_function("overlap", 1, overlap)

    event.listen(engine.sync_engine, "connect", register)
    read = CompiledRead(select(func.overlap(bindparam("value", type_=Integer)).label("value")))
    assert not read.brief  # a read that keeps its trip

    async def one(value: int) -> list[Any]:
        async with read_connection(engine) as conn:
            return [tuple(row) for row in await read.rows(conn, {"value": value})]

    try:
        answers = await asyncio.gather(*(one(value) for value in range(5)))
    finally:
        await engine.dispose()
    assert answers == [[(value,)] for value in range(5)]
    assert engine.dialect.loaded_dbapi.read_threads == threads
    assert overlap.most == threads  # five reads at once, `threads` of them in SQLite at a time


def test_reads_in_threads_take_as_many_turns_as_the_machine_has_cores(tmp_path: Path) -> None:
    engine = create_engine(Settings(database_url=f"sqlite+aiosqlite:///{tmp_path}/t.db"))
    assert engine.dialect.loaded_dbapi.read_threads == len(os.sched_getaffinity(0))
    with pytest.raises(ValueError, match="at least 1"):
        OneTripDbapi(aiosqlite, sqlite3, read_threads=0)


@on_loop
async def test_while_reads_run_in_threads_the_lock_is_handed_back_sooner(tmp_path: Path) -> None:
    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path}/t.db", database_sqlite_read_threads=2
    )
    engine = create_engine(settings)
    seen: list[float] = []

    def switch_interval(value: int) -> int:  # runs in SQLite, in the read's thread
        seen.append(sys.getswitchinterval())
        time.sleep(0.02)  # the reads overlap: the first one out must not restore it
        return value

    def register(dbapi_connection: Any, _record: Any) -> None:
        here = loop_connection(dbapi_connection.driver_connection)
        assert here is not None
        here.create_function("switch_interval", 1, switch_interval)

    event.listen(engine.sync_engine, "connect", register)
    read = CompiledRead(select(func.switch_interval(bindparam("value", type_=Integer))))
    assert not read.brief

    async def one(value: int) -> None:
        async with read_connection(engine) as conn:
            assert [tuple(row) for row in await read.rows(conn, {"value": value})] == [(value,)]

    suite_interval = sys.getswitchinterval()
    sys.setswitchinterval(0.005)  # Python's own
    try:
        await asyncio.gather(*(one(value) for value in range(5)))
        assert seen == [pytest.approx(READ_SWITCH_INTERVAL)] * 5
        assert sys.getswitchinterval() == pytest.approx(0.005)  # none runs: restored
    finally:
        sys.setswitchinterval(suite_interval)
        await engine.dispose()


def test_the_interval_is_restored_when_the_last_read_ends_whatever_the_order() -> None:
    suite_interval = sys.getswitchinterval()
    sys.setswitchinterval(0.005)
    first, second = lock_handed_back_promptly(), lock_handed_back_promptly()
    try:
        first.__enter__()
        second.__enter__()
        first.__exit__(None, None, None)  # the first in ends first: the second still runs
        assert sys.getswitchinterval() == pytest.approx(READ_SWITCH_INTERVAL)
        # A read that fails ends its count too.
        with pytest.raises(RuntimeError), lock_handed_back_promptly():
            raise RuntimeError
        assert sys.getswitchinterval() == pytest.approx(READ_SWITCH_INTERVAL)
        second.__exit__(None, None, None)
        assert sys.getswitchinterval() == pytest.approx(0.005)
    finally:
        sys.setswitchinterval(suite_interval)
