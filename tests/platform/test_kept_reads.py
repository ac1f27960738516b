"""Search's kept read connections on PostgreSQL (platform/kept_reads.py): lent one caller at
a time, in arrival order, within `keep` of the pool's connections, and given back to the
pool after an error, when others wait for the pool, after sitting idle, and at close."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from sqlalchemy import literal_column, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from flightdeck.platform import kept_reads
from flightdeck.platform.compiled_reads import CompiledRead
from flightdeck.platform.db import create_engine, read_engine
from flightdeck.platform.kept_reads import KeptConnections
from flightdeck.platform.replica import ReadDatabase
from flightdeck.platform.settings import Settings

pytestmark = [
    pytest.mark.asyncio(loop_scope="session"),
    pytest.mark.parametrize("settings", ["postgres"], indirect=True),
]


@pytest_asyncio.fixture(loop_scope="session")
async def engine(settings: Settings) -> AsyncIterator[AsyncEngine]:
    """A pool of three connections of its own."""
    engine = create_engine(settings.model_copy(update={"database_pool_size": 3}))
    try:
        yield engine
    finally:
        await engine.dispose()


def checked_out(engine: AsyncEngine) -> int:
    return engine.sync_engine.pool.checkedout()  # type: ignore[attr-defined,no-any-return]


async def _backend_pid(conn: AsyncConnection) -> int:
    return int((await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one())


async def test_a_connection_given_back_is_kept_and_lent_again(engine: AsyncEngine) -> None:
    kept = KeptConnections(read_engine(engine), 2)
    async with kept.lend() as first:
        pid = await _backend_pid(first)
        sync = first.sync_connection
        assert sync is not None and sync.get_execution_options()["isolation_level"] == "AUTOCOMMIT"
    async with kept.lend() as again:
        assert again is first and await _backend_pid(again) == pid
    assert kept.held == 1 and checked_out(engine) == 1  # kept: not back in the pool
    await kept.close()
    assert kept.held == 0 and checked_out(engine) == 0


async def test_callers_beyond_keep_wait_and_are_lent_in_arrival_order(engine: AsyncEngine) -> None:
    kept = KeptConnections(read_engine(engine), 1)
    order: list[str] = []
    release = asyncio.Event()

    async def use(name: str) -> AsyncConnection:
        async with kept.lend() as conn:
            order.append(name)
            if name == "first":
                await release.wait()
            return conn

    first = asyncio.create_task(use("first"))
    await asyncio.sleep(0.05)  # lent
    waiting = [asyncio.create_task(use(name)) for name in ("second", "third")]
    await asyncio.sleep(0.05)
    assert order == ["first"] and checked_out(engine) == 1  # the others wait: keep is 1
    release.set()
    lent = await asyncio.gather(first, *waiting)
    assert order == ["first", "second", "third"]
    assert lent[0] is lent[1] is lent[2]  # one connection, handed from one to the next
    assert kept.held == 1 and checked_out(engine) == 1
    await kept.close()


async def test_a_caller_waits_no_longer_than_its_timeout(engine: AsyncEngine) -> None:
    kept = KeptConnections(read_engine(engine), 1, timeout=0.1)
    async with kept.lend():
        with pytest.raises(PoolTimeout):
            async with kept.lend():
                pass
    async with kept.lend() as conn:  # nothing lost: the one connection is lent again
        assert await _backend_pid(conn) > 0
    assert kept.held == 1
    await kept.close()


async def test_a_failed_read_or_an_error_gives_the_connection_back_to_the_pool(
    engine: AsyncEngine,
) -> None:
    kept = KeptConnections(read_engine(engine), 2)
    failing = CompiledRead(select(text("no_such_column")))
    with pytest.raises(DBAPIError):
        async with kept.lend() as conn:
            await failing.rows(conn, {})
    assert kept.held == 0 and checked_out(engine) == 0
    with pytest.raises(LookupError):
        async with kept.lend() as conn:
            raise LookupError("the caller's own error")
    assert kept.held == 0 and checked_out(engine) == 0
    async with kept.lend() as conn:  # the next one checks out afresh
        assert await _backend_pid(conn) > 0
    await kept.close()


async def test_after_a_failed_read_the_idle_connections_go_back_too(engine: AsyncEngine) -> None:
    kept = KeptConnections(read_engine(engine), 2)
    both = [kept.lend(), kept.lend()]
    for block in both:  # two at once: two kept
        await block.__aenter__()
    for block in both:
        await block.__aexit__(None, None, None)
    assert kept.held == 2 and checked_out(engine) == 2

    async def read_cut_short() -> None:  # its connection is dropped, as after a lost server
        async with kept.lend() as conn:
            await CompiledRead(select(literal_column("pg_sleep(5)"))).rows(conn, {})

    reading = asyncio.create_task(read_cut_short())
    await asyncio.sleep(0.2)
    reading.cancel()
    with pytest.raises(asyncio.CancelledError):
        await reading
    assert kept.held == 0 and checked_out(engine) == 0  # the idle one went back too
    await kept.close()


async def test_a_waiter_for_the_pool_gets_the_connection_given_back(engine: AsyncEngine) -> None:
    reads = read_engine(engine)
    kept = KeptConnections(reads, 2)
    others = [await engine.connect().start() for _ in range(2)]  # the pool's other two
    lent = kept.lend()
    await lent.__aenter__()
    assert checked_out(engine) == 3
    waiter = asyncio.create_task(engine.connect().start())  # waits: the pool is empty
    await asyncio.sleep(0.05)
    assert not waiter.done()
    await lent.__aexit__(None, None, None)
    conn = await asyncio.wait_for(waiter, 5)
    assert kept.held == 0  # given to the pool's waiter, not kept
    for other in [conn, *others]:
        await other.close()
    await kept.close()


async def test_a_connection_idle_too_long_goes_back_to_the_pool(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    kept = KeptConnections(read_engine(engine), 2)
    async with kept.lend() as first:
        pass
    monkeypatch.setattr(kept_reads, "IDLE_BEFORE_PING_SECONDS", 0.0)
    async with kept.lend() as second:  # the idle one went back; a checkout (pinged) instead
        assert second is not first and first.closed
        assert checked_out(engine) == 1
    await kept.close()


async def test_close_gives_back_the_idle_at_once_and_the_lent_when_given_back(
    engine: AsyncEngine,
) -> None:
    kept = KeptConnections(read_engine(engine), 2)
    async with kept.lend():
        async with kept.lend():
            pass
        await kept.close()  # one idle, given back; one lent
        assert kept.held == 1 and checked_out(engine) == 1
    assert kept.held == 0 and checked_out(engine) == 0


async def test_another_event_loop_checks_out_as_before(settings: Settings) -> None:
    reads = ReadDatabase(settings, create_engine(settings))
    try:
        async with reads.connect(kept=True) as conn:
            assert await _backend_pid(conn) > 0
        keeper = reads._kept  # this loop's
        assert keeper is not None
        assert keeper.held == 1

        def other_loop() -> bool:
            async def usable() -> bool:
                return keeper.usable()

            return asyncio.run(usable())

        assert await asyncio.to_thread(other_loop) is False
        assert keeper.usable()
    finally:
        await reads.close()
        await reads.primary.dispose()


async def test_a_connection_the_server_ended_is_not_lent_again(engine: AsyncEngine) -> None:
    kept = KeptConnections(read_engine(engine), 2)
    async with kept.lend() as first:
        pid = await _backend_pid(first)
    async with engine.connect() as other:  # the server ends it (a restart, an operator)
        await other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    for _ in range(50):  # asyncpg notices when the event loop reads the connection's end
        await asyncio.sleep(0.02)
        if first.sync_connection.connection.driver_connection.is_closed():  # type: ignore[union-attr]
            break
    async with kept.lend() as second:  # not the ended one: a read on it would fail
        assert second is not first and await _backend_pid(second) != pid
    assert kept.held == 1
    await kept.close()
