"""The connection pool serves its waiters in arrival order (platform/pool.py): a checkout that
arrives while others wait queues behind them, and a waiter that gives up (timed out, or
cancelled after it was handed a connection) leaves the pool whole. On both databases."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import pytest_asyncio
from sqlalchemy import event, text
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import AsyncAdaptedQueuePool, Pool

from flightdeck.platform.db import create_engine
from flightdeck.platform.pool import FairQueue, FairQueuePool
from flightdeck.platform.replica import create_replica_engine
from flightdeck.platform.settings import Settings

pytestmark = pytest.mark.asyncio(loop_scope="session")


def _engine(settings: Settings, pool: type[Pool] = FairQueuePool) -> AsyncEngine:
    """An engine on the suite's database with one connection, waited for up to 2 s."""
    return create_async_engine(
        settings.database_url, poolclass=pool, pool_size=1, max_overflow=0, pool_timeout=2
    )


@pytest_asyncio.fixture(loop_scope="session")
async def one_connection(settings: Settings) -> AsyncIterator[AsyncEngine]:
    engine = _engine(settings)
    yield engine
    await engine.dispose()


def _queue(engine: AsyncEngine) -> FairQueue[Any]:
    queue = engine.sync_engine.pool._pool  # type: ignore[attr-defined]
    assert isinstance(queue, FairQueue)
    return queue


async def _until(condition: Callable[[], bool]) -> None:
    async with asyncio.timeout(5):
        while not condition():  # noqa: ASYNC110 - the pool's own count: no event to wait on
            await asyncio.sleep(0.001)


async def _served_in_order(engine: AsyncEngine, waiting: Callable[[], int]) -> list[str]:
    """Three checkouts wait for the engine's one connection; when it comes back, a fourth
    asks in the same turn (before the first waiter has run). The order they got it."""
    served: list[str] = []

    async def take(name: str) -> None:
        async with engine.connect() as conn:
            served.append(name)
            await conn.execute(text("SELECT 1"))

    late: list[asyncio.Task[None]] = []

    def arrive_late(*_: Any) -> None:
        # Checkin runs just before the connection goes back: this task is ready to run
        # before the first waiter is woken.
        if not late:
            late.append(asyncio.get_running_loop().create_task(take("late")))

    holder = await engine.connect()
    waiters = []
    for n in range(3):
        waiters.append(asyncio.create_task(take(f"waiter {n}")))
        await _until(lambda n=n: waiting() == n + 1)
    event.listen(engine.sync_engine.pool, "checkin", arrive_late)
    await holder.close()
    await asyncio.gather(*waiters)
    await asyncio.gather(*late)
    return served


async def test_waiters_are_served_in_arrival_order(one_connection: AsyncEngine) -> None:
    served = await _served_in_order(one_connection, lambda: _queue(one_connection).waiting)

    assert served == ["waiter 0", "waiter 1", "waiter 2", "late"]


async def test_sqlalchemys_own_queue_lets_a_late_checkout_go_first(settings: Settings) -> None:
    """Why the pool is replaced: with SQLAlchemy's queue the same arrivals are served out of
    order (the late one first, the first waiter sent to the back)."""
    engine = _engine(settings, AsyncAdaptedQueuePool)
    getters = lambda: len(engine.sync_engine.pool._pool._queue._getters)  # type: ignore[attr-defined]  # noqa: E731
    try:
        served = await _served_in_order(engine, getters)
    finally:
        await engine.dispose()

    assert served[0] == "late"
    assert served != ["waiter 0", "waiter 1", "waiter 2", "late"]


async def test_a_waiter_that_times_out_leaves_the_next_one_served(
    one_connection: AsyncEngine,
) -> None:
    holder = await one_connection.connect()
    with pytest.raises(PoolTimeout):
        await one_connection.connect()  # waits 2 s for the connection that stays checked out
    await holder.close()

    async with asyncio.timeout(1):  # not handed to the waiter that gave up
        async with one_connection.connect() as conn:
            assert await conn.scalar(text("SELECT 1")) == 1
    assert _queue(one_connection).waiting == 0


async def test_a_waiter_cancelled_once_handed_a_connection_gives_it_back(
    one_connection: AsyncEngine,
) -> None:
    got: list[AsyncConnection] = []

    async def take() -> None:
        got.append(await one_connection.connect())

    holder = await one_connection.connect()
    waiter = asyncio.create_task(take())
    await _until(lambda: _queue(one_connection).waiting == 1)
    await holder.close()  # handed to the waiter, which has not run yet
    waiter.cancel()  # its client went away

    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert got == []
    async with asyncio.timeout(1):  # the pool's one connection is there for the next
        async with one_connection.connect() as conn:
            assert await conn.scalar(text("SELECT 1")) == 1


async def test_the_apps_engines_use_the_fair_pool(settings: Settings) -> None:
    engines = [create_engine(settings)]
    if not settings.is_sqlite:
        replica = settings.model_copy(update={"database_replica_url": settings.database_url})
        engines.append(create_replica_engine(replica))
    for engine in engines:
        async with engine.connect() as conn:
            assert await conn.scalar(text("SELECT 1")) == 1
        assert isinstance(engine.sync_engine.pool, FairQueuePool)
        _queue(engine)
        await engine.dispose()
