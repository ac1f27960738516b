"""The outbox relay on SQLite and PostgreSQL, with the in-process bus."""

from __future__ import annotations

import asyncio
import time

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from flightdeck.platform.events.bus import BusUnavailable, Event
from flightdeck.platform.events.inprocess import InProcessBus
from flightdeck.platform.events.outbox import OutboxEvent, pending_stats, record_event
from flightdeck.platform.events.relay import OutboxRelay

from .support import Recorder, eventually

pytestmark = pytest.mark.asyncio(loop_scope="session")

Maker = async_sessionmaker[AsyncSession]


async def _write_events(maker: Maker, aggregate_id: str, count: int, start: int = 0) -> None:
    async with maker() as session, session.begin():
        for n in range(start, start + count):
            await record_event(
                session,
                "flight.status_changed",
                aggregate_type="flight",
                aggregate_id=aggregate_id,
                payload={"n": n},
            )


async def _rows(maker: Maker) -> list[OutboxEvent]:
    async with maker() as session:
        return list((await session.scalars(select(OutboxEvent))).all())


async def _started_bus(recorder: Recorder) -> InProcessBus:
    bus = InProcessBus()
    bus.subscribe(recorder, group="g")
    await bus.start()
    return bus


async def test_relay_publishes_committed_rows_in_order_and_marks_them(maker: Maker) -> None:
    recorder = Recorder()
    bus = await _started_bus(recorder)
    await _write_events(maker, "flight-1", 3)
    await _write_events(maker, "flight-1", 3, start=3)
    relay = OutboxRelay(maker, bus, batch_size=4)  # two batches
    assert await relay.relay_pending() == 6
    await bus.drain()
    await bus.stop()
    assert recorder.numbers("flight-1") == [0, 1, 2, 3, 4, 5]
    rows = await _rows(maker)
    assert {row.id for row in rows} == set(recorder.ids)  # the event id is the row id
    assert all(row.published_at is not None for row in rows)
    async with maker() as session:
        assert await pending_stats(session) == (0, None)
    assert await relay.relay_pending() == 0  # nothing is published twice


async def test_an_event_of_a_rolled_back_transaction_is_never_published(maker: Maker) -> None:
    recorder = Recorder()
    bus = await _started_bus(recorder)
    async with maker() as session:
        await record_event(
            session, "flight.updated", aggregate_type="flight", aggregate_id="f", payload={}
        )
        await session.rollback()
    relay = OutboxRelay(maker, bus)
    assert await relay.relay_pending() == 0
    await bus.drain()
    await bus.stop()
    assert recorder.events == []
    assert await _rows(maker) == []


async def test_rows_stay_pending_and_count_attempts_while_the_bus_is_down(maker: Maker) -> None:
    recorder = Recorder()
    bus = InProcessBus()
    bus.subscribe(recorder, group="g")  # not started: publish raises BusUnavailable
    await _write_events(maker, "flight-1", 2)
    relay = OutboxRelay(maker, bus)
    with pytest.raises(BusUnavailable):
        await relay.relay_once()
    rows = await _rows(maker)
    assert [row.published_at for row in rows] == [None, None]
    assert [row.attempts for row in rows] == [1, 1]
    assert all(row.last_error for row in rows)
    await bus.start()
    assert await relay.relay_pending() == 2
    await bus.drain()
    await bus.stop()
    assert recorder.numbers("flight-1") == [0, 1]


async def test_an_event_the_bus_keeps_refusing_is_set_aside(maker: Maker) -> None:
    class RefusesPoison(InProcessBus):
        async def publish(self, event: Event) -> None:
            if event.payload["n"] == 0:
                raise ValueError("too large")
            await super().publish(event)

    recorder = Recorder()
    bus = RefusesPoison()
    bus.subscribe(recorder, group="g")
    await bus.start()
    await _write_events(maker, "flight-1", 1)
    await _write_events(maker, "flight-2", 1, start=1)
    relay = OutboxRelay(maker, bus, max_attempts=2)
    await relay.relay_once()
    await relay.relay_once()
    assert await relay.relay_once() == 0  # the poison row is no longer claimed
    await bus.drain()
    await bus.stop()
    assert recorder.numbers("flight-2") == [1]
    poison = next(row for row in await _rows(maker) if row.aggregate_id == "flight-1")
    assert poison.published_at is None and poison.failed_at is not None
    assert poison.attempts == 2


async def test_running_relay_publishes_right_after_the_commit(maker: Maker) -> None:
    recorder = Recorder()
    bus = await _started_bus(recorder)
    relay = OutboxRelay(maker, bus, interval=5.0)  # a commit wakes it, not the timer
    relay.start()
    try:
        await asyncio.sleep(0.05)  # the relay's first (empty) round, then it waits
        started = time.perf_counter()
        await _write_events(maker, "flight-1", 1)
        seconds = await eventually(lambda: len(recorder.events) == 1, within=2)
    finally:
        await relay.stop()
        await bus.stop()
    print(f"commit → handler: {seconds * 1000:.1f} ms (relay woken by the commit)")
    assert time.perf_counter() - started < 2


async def test_relay_throughput(maker: Maker, backend: str) -> None:
    recorder = Recorder()
    bus = await _started_bus(recorder)
    count = 2000
    for chunk in range(0, count, 500):
        async with maker() as session, session.begin():
            for n in range(chunk, chunk + 500):
                session.add(
                    OutboxEvent(
                        event_type="flight.updated",
                        aggregate_type="flight",
                        aggregate_id=f"f{n % 20}",
                        payload={"n": n},
                    )
                )
    relay = OutboxRelay(maker, bus, batch_size=500)
    started = time.perf_counter()
    assert await relay.relay_pending() == count
    seconds = time.perf_counter() - started
    await bus.drain()
    await bus.stop()
    print(f"{backend}: relayed {count} events in {seconds:.2f}s = {count / seconds:.0f}/s")
    assert len(recorder.events) == count
    assert recorder.numbers("f3") == sorted(recorder.numbers("f3"))
