"""Idempotent consumers: an event id is handled once per consumer, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from flightdeck.platform.clock import clock
from flightdeck.platform.events.bus import Event
from flightdeck.platform.events.consumers import ProcessedEvent, handle_once, idempotent_handler

from .support import make_event

pytestmark = pytest.mark.asyncio(loop_scope="session")

Maker = async_sessionmaker[AsyncSession]


async def _markers(maker: Maker) -> int:
    async with maker() as session:
        return int(await session.scalar(select(func.count()).select_from(ProcessedEvent)) or 0)


OCCURRED = datetime(2026, 11, 30, 23, 59, 59, 999999, tzinfo=UTC)


async def test_handle_once_is_false_the_second_time(maker: Maker) -> None:
    async with maker() as session, session.begin():
        assert await handle_once(session, "emails", "event-1", occurred_at=OCCURRED) is True
    async with maker() as session, session.begin():
        assert await handle_once(session, "emails", "event-1", occurred_at=OCCURRED) is False
        # another consumer handles the same event on its own account
        assert await handle_once(session, "inbox", "event-1", occurred_at=OCCURRED) is True
        # and the caller's transaction is still usable after the refused insert
        assert await handle_once(session, "inbox", "event-2", occurred_at=OCCURRED) is True
    assert await _markers(maker) == 3


async def test_a_marker_stays_unique_whenever_the_event_is_handled(maker: Maker) -> None:
    # The key holds the event's own time (PostgreSQL partitions by its month), never the time
    # of handling: a redelivery handled a month later still finds the first marker.
    event = make_event()
    async with maker() as session, session.begin():
        assert await handle_once(session, "emails", event.id, occurred_at=event.occurred_at)
    clock.advance(timedelta(days=40))
    try:
        async with maker() as session, session.begin():
            again = await handle_once(session, "emails", event.id, occurred_at=event.occurred_at)
    finally:
        clock.reset()
    assert again is False


async def test_a_duplicate_delivery_runs_the_handler_once(maker: Maker) -> None:
    effects: list[str] = []

    async def notify(session: AsyncSession, event: Event) -> None:
        effects.append(event.id)

    handler = idempotent_handler(maker, "notify", notify)
    event = make_event()
    await handler(event)
    await handler(event)  # the same event again: a relay retry or a broker redelivery
    assert effects == [event.id]


async def test_a_failed_handler_leaves_no_marker_so_a_redelivery_retries(maker: Maker) -> None:
    attempts: list[str] = []

    async def fails_first(session: AsyncSession, event: Event) -> None:
        attempts.append(event.id)
        if len(attempts) == 1:
            raise RuntimeError("smtp down")

    handler = idempotent_handler(maker, "email", fails_first)
    event = make_event()
    with pytest.raises(RuntimeError):
        await handler(event)
    assert await _markers(maker) == 0  # rolled back with the handler's work
    await handler(event)
    await handler(event)
    assert attempts == [event.id, event.id]
    assert await _markers(maker) == 1
