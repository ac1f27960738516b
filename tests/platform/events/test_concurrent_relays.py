"""Several relays on one PostgreSQL database: each row is published once, in order per
aggregate (FOR UPDATE SKIP LOCKED). SQLite runs a single relay, so this is PostgreSQL only."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from flightdeck.platform.events.bus import Event
from flightdeck.platform.events.inprocess import InProcessBus
from flightdeck.platform.events.outbox import OutboxEvent, pending_stats, record_event
from flightdeck.platform.events.relay import OutboxRelay

from .support import Recorder

pytestmark = pytest.mark.asyncio(loop_scope="session")

Maker = async_sessionmaker[AsyncSession]


class SlowBus(InProcessBus):
    """Publishing takes a moment, so the relays' transactions overlap."""

    async def publish(self, event: Event) -> None:
        await asyncio.sleep(0.001)
        await super().publish(event)


async def _relay_until_empty(relay: OutboxRelay, maker: Maker) -> int:
    """Relays until nothing is pending; returns how many rows this relay published."""
    published = 0
    for _ in range(500):
        published += await relay.relay_once()
        async with maker() as session:
            if (await pending_stats(session))[0] == 0:
                return published
    raise AssertionError("rows still pending")


async def _record_events(maker: Maker, aggregates: list[str], count: int) -> None:
    """Events 0 to `count - 1` of each aggregate (payload `n`), one transaction per number."""
    for n in range(count):
        async with maker() as session, session.begin():
            for aggregate in aggregates:
                await record_event(
                    session,
                    "flight.updated",
                    aggregate_type="flight",
                    aggregate_id=aggregate,
                    payload={"n": n},
                )


async def _recording(bus: InProcessBus) -> Recorder:
    """Starts `bus` with a recorder subscribed; returns the recorder."""
    recorder = Recorder()
    bus.subscribe(recorder, group="g")
    await bus.start()
    return recorder


@pytest.mark.parametrize("settings", ["postgres"], indirect=True)
async def test_two_relays_publish_each_row_once_and_in_order(maker: Maker) -> None:
    aggregates = [f"flight-{a}" for a in range(8)]
    await _record_events(maker, aggregates, 30)
    bus = SlowBus()
    recorder = await _recording(bus)
    first = OutboxRelay(maker, bus, batch_size=25)
    second = OutboxRelay(maker, bus, batch_size=25)
    shares = await asyncio.gather(
        _relay_until_empty(first, maker), _relay_until_empty(second, maker)
    )
    await bus.drain()
    await bus.stop()
    assert all(share > 0 for share in shares)  # they really ran side by side
    assert sum(shares) == 30 * len(aggregates)
    assert len(recorder.ids) == len(set(recorder.ids)) == 30 * len(aggregates)
    for aggregate in aggregates:
        assert recorder.numbers(aggregate) == list(range(30))


@pytest.mark.parametrize("settings", ["postgres"], indirect=True)
async def test_a_gap_another_relay_holds_keeps_the_rows_after_it_back(maker: Maker) -> None:
    """SKIP LOCKED can leave a gap in a batch: another relay holds an aggregate's rows 3 to 5,
    so this one claims 0-2 and 6. It publishes 0-2 and leaves 6 for after 3 to 5."""
    await _record_events(maker, ["f"], 7)
    bus = InProcessBus()
    recorder = await _recording(bus)
    relay = OutboxRelay(maker, bus, batch_size=25)
    async with maker() as other, other.begin():  # the other relay's claim, still open
        ids = (await other.scalars(select(OutboxEvent.id).order_by(OutboxEvent.seq))).all()
        locking = select(OutboxEvent.id).where(OutboxEvent.id.in_(ids[3:6])).with_for_update()
        assert len((await other.scalars(locking)).all()) == 3

        await relay.relay_once()
        await bus.drain()
        assert recorder.numbers("f") == [0, 1, 2]

    await _relay_until_empty(relay, maker)  # the other relay let go without publishing
    await bus.drain()
    await bus.stop()
    assert recorder.numbers("f") == list(range(7))
