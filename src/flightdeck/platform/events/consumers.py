"""Idempotent consumers: each consumer remembers the event ids it has handled.

Delivery is at least once, so a consumer may see an event again (relay retry, broker
restart, rebalance). `handle_once` stores a (consumer, event id) marker in the consumer's own
transaction: when the handler's database work commits in that same transaction, the event
takes effect exactly once; when it rolls back, the marker goes too and a redelivery retries.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime

from prometheus_client import Counter
from sqlalchemy import String, delete, insert
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Mapped, mapped_column

from flightdeck.platform.clock import utcnow
from flightdeck.platform.db import Base, UTCDateTime
from flightdeck.platform.events.bus import Event, EventHandler

log = logging.getLogger(__name__)

DUPLICATES = Counter(
    "flightdeck_events_duplicate_total", "Events a consumer had already handled", ["consumer"]
)

SessionHandler = Callable[[AsyncSession, Event], Awaitable[None]]


class ProcessedEvent(Base):
    """One row per (consumer, event) handled; the primary key makes the pair unique.

    The event's own time is in the key too: on PostgreSQL the table is partitioned by month of
    it (flightdeck/data_layout.py), and a partition key must be in every unique key. An event
    always carries the same time, so (consumer, event, its time) is as unique as the pair;
    `processed_at`, which differs between deliveries, could not be the key."""

    __tablename__ = "processed_events"

    consumer: Mapped[str] = mapped_column(String(64), primary_key=True)
    event_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    event_occurred_at: Mapped[datetime] = mapped_column(UTCDateTime(), primary_key=True)
    processed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)


async def handle_once(
    session: AsyncSession, consumer: str, event_id: str, *, occurred_at: datetime
) -> bool:
    """Marks `event_id` (which occurred at `occurred_at`) handled by `consumer` in the
    session's transaction.

    Returns True the first time, False when the marker is already there (committed by an
    earlier delivery). Concurrent callers on PostgreSQL wait for each other: one gets True.
    """
    values = {
        "consumer": consumer,
        "event_id": event_id,
        "event_occurred_at": occurred_at,
        "processed_at": utcnow(),
    }
    dialect = session.get_bind().dialect.name
    if dialect in ("postgresql", "sqlite"):
        module = postgresql if dialect == "postgresql" else sqlite
        stmt = module.insert(ProcessedEvent).values(**values).on_conflict_do_nothing()
        result = await session.execute(stmt)
        return bool(result.rowcount == 1)  # type: ignore[attr-defined]
    try:  # any other database: a savepoint keeps the caller's transaction usable
        async with session.begin_nested():
            await session.execute(insert(ProcessedEvent).values(**values))
    except IntegrityError:
        return False
    return True


def idempotent_handler(
    sessionmaker: async_sessionmaker[AsyncSession],
    consumer_name: str,
    fn: SessionHandler,
) -> EventHandler:
    """Wraps `async fn(session, event)` into a bus handler that runs it at most once per event.

    `fn` runs in a transaction that also stores the marker; it commits when `fn` returns. An
    exception rolls both back and propagates, so the bus retries or logs it.
    """

    async def handler(event: Event) -> None:
        async with sessionmaker() as session, session.begin():
            if not await handle_once(
                session, consumer_name, event.id, occurred_at=event.occurred_at
            ):
                DUPLICATES.labels(consumer_name).inc()
                log.debug("%s: event %s already handled", consumer_name, event.id)
                return
            await fn(session, event)

    handler.__qualname__ = f"idempotent_handler[{consumer_name}]"
    return handler


async def purge_processed_events(session: AsyncSession, *, before: datetime) -> int:
    """Deletes markers older than `before` (keep them longer than any redelivery window)."""
    result = await session.execute(
        delete(ProcessedEvent).where(ProcessedEvent.processed_at < before)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]
