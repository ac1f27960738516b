"""The outbox relay: publishes committed outbox rows on the bus, oldest first, and marks them.

A row is marked published only after the bus acknowledged it, so nothing is lost when the
broker or this process dies in between: the row stays and is published again (consumers
drop the duplicate by event id). While the bus is unavailable the relay backs off
exponentially and counts the attempt on the rows.

PostgreSQL: each batch is claimed `FOR UPDATE SKIP LOCKED`, so several processes relay at
once without publishing the same row twice; of each aggregate a process publishes only the
rows older than any pending row of it another process holds (an older one, or one in a gap
SKIP LOCKED left in the batch), so one aggregate's events still go out in order. SQLite: one
process relays (rows are read, published, then marked in short transactions, so writers are
never blocked while the broker is slow).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

from prometheus_client import Counter, Gauge
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from flightdeck.platform.clock import utcnow
from flightdeck.platform.events import outbox
from flightdeck.platform.events.bus import BusUnavailable, Event, EventBus
from flightdeck.platform.events.outbox import ClaimedRow, PendingRow
from flightdeck.platform.settings import Settings
from flightdeck.platform.worker import BackgroundWorker, Backoff

log = logging.getLogger(__name__)

PUBLISHED = Counter("flightdeck_outbox_published_total", "Outbox events published")
PUBLISH_FAILURES = Counter(
    "flightdeck_outbox_publish_failures_total", "Outbox events the bus refused", ["reason"]
)
LAG = Gauge("flightdeck_outbox_lag_seconds", "Age of the oldest outbox event not yet published")

MAX_ATTEMPTS = 20  # an event failing for a reason of its own is given up on after this many


def _without_blocked_aggregates(claimed: list[ClaimedRow]) -> list[PendingRow]:
    """Keeps, of each aggregate, only the rows older than its oldest pending row outside
    this batch (`first_elsewhere`, outbox.claim_pending): another relay holding an older row
    goes first, and one holding a row in between (SKIP LOCKED can leave gaps: this batch has
    2 and 6, another 3 to 5) comes before the rows after it. Those rows stay pending for a
    later round."""
    return [r for r in claimed if r.first_elsewhere is None or r.seq < r.first_elsewhere]


def event_from_row(row: PendingRow) -> Event:
    return Event(
        id=row.id,
        type=row.event_type,
        aggregate_type=row.aggregate_type,
        aggregate_id=row.aggregate_id,
        payload=row.payload,
        occurred_at=row.created_at,
        actor_id=row.actor_id,
    )


def _observe_lag(oldest_first: Sequence[PendingRow]) -> None:
    age = (utcnow() - oldest_first[0].created_at).total_seconds() if oldest_first else 0.0
    LAG.set(max(0.0, age))


async def publish_all(bus: EventBus, events: Sequence[Event]) -> list[Exception | None]:
    """Publishes in order (pipelined when the bus can); None per published event, else the
    error. After the bus reports itself unavailable nothing more is attempted."""
    publish_many = getattr(bus, "publish_many", None)
    if publish_many is not None:
        results: list[Exception | None] = await publish_many(events)
        return results
    results = []
    for event in events:
        if results and isinstance(results[-1], BusUnavailable):
            results.append(results[-1])
            continue
        try:
            await bus.publish(event)
            results.append(None)
        except Exception as exc:
            results.append(exc)
    return results


async def publish_within(
    bus: EventBus, events: Sequence[Event], deadline: float
) -> list[Exception | None]:
    """`publish_all`, but past `deadline` every event counts as unavailable. The publishing
    task is cancelled without being awaited: a client that is slow to honour cancellation
    (seen with aiokafka while the broker goes away) must not hold the relay, or the outbox
    rows it has locked, for ever."""
    task = asyncio.create_task(publish_all(bus, events), name="outbox-relay.publish")
    done, _ = await asyncio.wait({task}, timeout=deadline)
    if not done:
        task.cancel()
        task.add_done_callback(_consume_outcome)
        return [BusUnavailable(f"publishing took longer than {deadline:g}s")] * len(events)
    return task.result()


def _consume_outcome(task: asyncio.Future[list[Exception | None]]) -> None:
    # Retrieves the abandoned task's outcome so asyncio does not log it as never retrieved.
    if not task.cancelled():
        task.exception()


@dataclass
class _Outcome:
    published: list[str] = field(default_factory=list)
    unavailable: list[str] = field(default_factory=list)
    unavailable_error: str = ""
    rejected: list[tuple[PendingRow, Exception]] = field(default_factory=list)


class OutboxRelay(BackgroundWorker):
    """Publishes the outbox: one batch (`relay_once`) per round of its background loop, the
    next at once while batches come back full, else after `interval` or as soon as a commit
    wrote events; while the bus is unavailable, rounds back off from `initial_backoff` to
    `max_backoff` seconds."""

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        bus: EventBus,
        *,
        interval: float = 0.2,
        batch_size: int = 100,
        initial_backoff: float = 0.2,
        max_backoff: float = 5.0,
        max_attempts: int = MAX_ATTEMPTS,
        publish_deadline: float = 10.0,
        min_gap: float = 0.0,
    ) -> None:
        super().__init__(
            "outbox-relay",
            self._relay_round,
            interval=interval,
            backoff=Backoff(initial_backoff, max_backoff),
            wake_on=outbox.EVENTS_COMMITTED,
            expected_failures=(BusUnavailable,),
            min_gap=min_gap,
        )
        self._sessionmaker = sessionmaker
        self.publish_deadline = publish_deadline
        self._bus = bus
        self.batch_size = batch_size
        self.max_attempts = max_attempts

    @classmethod
    def from_settings(
        cls, sessionmaker: async_sessionmaker[AsyncSession], bus: EventBus, settings: Settings
    ) -> OutboxRelay:
        return cls(
            sessionmaker,
            bus,
            interval=settings.relay_interval_seconds,
            batch_size=settings.relay_batch_size,
            max_backoff=settings.relay_max_backoff_seconds,
            min_gap=settings.relay_min_gap_seconds,
            # The client bounds each request; this bounds the whole batch even if it does not.
            publish_deadline=max(1.0, 2 * settings.kafka_request_timeout_ms / 1000),
        )

    # --- one batch ------------------------------------------------------------------------

    async def relay_once(self) -> int:
        """Publishes one batch of the oldest pending rows; returns how many it took on.
        Raises BusUnavailable (after counting the attempt on the rows) when the bus is down."""
        async with self._sessionmaker() as session:
            if session.get_bind().dialect.name == "sqlite":
                async with session.begin():
                    rows = await outbox.list_pending(session, self.batch_size)
                _observe_lag(rows)
                outcome = await self._publish(rows)
                async with session.begin():
                    await self._record(session, outcome)
            else:
                async with session.begin():
                    claimed = await outbox.claim_pending(session, self.batch_size)
                    _observe_lag(claimed)
                    rows = _without_blocked_aggregates(claimed)
                    outcome = await self._publish(rows)
                    await self._record(session, outcome)
        if outcome.unavailable:
            raise BusUnavailable(outcome.unavailable_error)
        return len(rows)

    async def relay_pending(self, max_batches: int = 1000) -> int:
        """Relays batch after batch until one comes back short (nothing more is pending, or
        another relay holds the rest) or `max_batches`; returns how many rows it took on."""
        total = 0
        for _ in range(max_batches):
            claimed = await self.relay_once()
            total += claimed
            if claimed < self.batch_size:
                break
        return total

    async def _publish(self, rows: Sequence[PendingRow]) -> _Outcome:
        outcome = _Outcome()
        if not rows:
            return outcome
        events = [event_from_row(row) for row in rows]
        results = await publish_within(self._bus, events, self.publish_deadline)
        for row, error in zip(rows, results, strict=True):
            if error is None:
                outcome.published.append(row.id)
            elif isinstance(error, BusUnavailable):
                outcome.unavailable.append(row.id)
                outcome.unavailable_error = str(error) or type(error).__name__
            else:
                outcome.rejected.append((row, error))
        return outcome

    async def _record(self, session: AsyncSession, outcome: _Outcome) -> None:
        now = utcnow()
        await outbox.mark_published(session, outcome.published, now)
        PUBLISHED.inc(len(outcome.published))
        if outcome.unavailable:
            PUBLISH_FAILURES.labels("unavailable").inc(len(outcome.unavailable))
            await outbox.record_attempt(session, outcome.unavailable, outcome.unavailable_error)
        for row, error in outcome.rejected:
            PUBLISH_FAILURES.labels("rejected").inc()
            give_up = row.attempts + 1 >= self.max_attempts
            log.error("outbox event %s (%s) refused%s: %r", row.id, row.event_type,
                      ", given up" if give_up else "", error)  # fmt: skip
            await outbox.record_attempt(
                session, [row.id], repr(error), failed_at=now if give_up else None
            )

    async def _relay_round(self) -> bool:
        # A full batch: more rows are likely pending, so the next round starts at once.
        return await self.relay_once() >= self.batch_size


def build_outbox_relay(
    sessionmaker: async_sessionmaker[AsyncSession], settings: Settings, bus: EventBus
) -> OutboxRelay | None:
    """The app's relay, not started (None when `relay_interval_seconds` is 0: not in this
    process)."""
    if settings.relay_interval_seconds <= 0:
        return None
    return OutboxRelay.from_settings(sessionmaker, bus, settings)
