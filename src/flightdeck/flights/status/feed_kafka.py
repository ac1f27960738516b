"""The status feed's Kafka side: every instance consumes the raw topic
(`settings.status_feed_topic`, default `flight-status-updates`) in the competing group
`<prefix>.status-feed`, so each update is applied by one instance.

Messages are the JSON of `StatusFeedUpdate` (unsigned: the topic is inside the trust
boundary). A malformed message, an unknown flight or a refused transition is logged and
skipped; offsets are committed after the batch was processed (at least once: a replayed
update is applied again, which the transition rules make harmless or refuse).
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import suppress

from aiokafka import AIOKafkaConsumer, ConsumerRecord
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from flightdeck.flights.status.feed import apply_feed_update, parse_update
from flightdeck.platform.errors import AppError
from flightdeck.platform.events.kafka_admin import close_client
from flightdeck.platform.settings import Settings

log = logging.getLogger(__name__)

POLL_MS = 500
MAX_RECORDS = 100
APPLY_ATTEMPTS = 3  # a database hiccup is retried; then the update is skipped
RETRY_SECONDS = (0.2, 0.5, 1.0, 2.0)
STOP_TIMEOUT_SECONDS = 5.0


class StatusFeedConsumer:
    name = "status-feed-consumer"  # as a worker of the server (see flights/module.py)

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], settings: Settings) -> None:
        self._sessionmaker = sessionmaker
        self._settings = settings
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self.applied = 0
        self.skipped = 0

    def start(self) -> None:
        """Consumes in the background (connecting, and reconnecting, as the broker allows)."""
        if self._task is None:
            self._stopping.clear()
            self._task = asyncio.create_task(self._run(), name=self.name)

    async def stop(self) -> None:
        if self._task is None:
            return
        self._stopping.set()
        task, self._task = self._task, None
        try:
            await asyncio.wait_for(task, STOP_TIMEOUT_SECONDS)
        except TimeoutError:
            task.cancel()
            with suppress(asyncio.CancelledError):
                await task

    def _consumer(self) -> AIOKafkaConsumer:
        settings = self._settings
        return AIOKafkaConsumer(
            settings.status_feed_topic,
            bootstrap_servers=settings.kafka_bootstrap_servers,
            group_id=f"{settings.kafka_topic_prefix}.status-feed",
            client_id="flightdeck-status-feed",
            auto_offset_reset="earliest",
            enable_auto_commit=False,
            fetch_max_wait_ms=settings.kafka_fetch_max_wait_ms,
            session_timeout_ms=settings.kafka_session_timeout_ms,
            heartbeat_interval_ms=settings.kafka_heartbeat_interval_ms,
            request_timeout_ms=max(
                settings.kafka_request_timeout_ms, settings.kafka_session_timeout_ms + 1000
            ),
        )

    async def _run(self) -> None:
        attempt = 0
        while not self._stopping.is_set():
            consumer = self._consumer()
            try:
                await consumer.start()
                attempt = 0
                await self._consume(consumer)
            except Exception as exc:  # a broker outage, or a connection torn down mid-call
                log.warning("status feed consumer: %r; retrying", exc)
                await self._sleep(RETRY_SECONDS[min(attempt, len(RETRY_SECONDS) - 1)])
                attempt += 1
            finally:
                with suppress(TimeoutError):
                    await asyncio.wait_for(close_client(consumer), STOP_TIMEOUT_SECONDS)

    async def _consume(self, consumer: AIOKafkaConsumer) -> None:
        while not self._stopping.is_set():
            batches = await consumer.getmany(timeout_ms=POLL_MS, max_records=MAX_RECORDS)
            if not batches:
                continue
            for records in batches.values():
                for record in records:
                    await self._process(record)
            await consumer.commit({tp: records[-1].offset + 1 for tp, records in batches.items()})

    async def _process(self, record: ConsumerRecord[bytes, bytes]) -> None:
        where = f"{record.topic}:{record.partition}@{record.offset}"
        try:
            update = parse_update(record.value or b"")
        except AppError as exc:
            log.warning("status feed: malformed message at %s skipped: %s", where, exc.message)
            self.skipped += 1
            return
        for attempt in range(1, APPLY_ATTEMPTS + 1):
            try:
                async with self._sessionmaker() as session, session.begin():
                    await apply_feed_update(session, update)
                self.applied += 1
                return
            except AppError as exc:
                log.warning("status feed: update at %s refused (%s): %s", where, exc.code,
                            exc.message)  # fmt: skip
                self.skipped += 1
                return
            except Exception:
                if attempt == APPLY_ATTEMPTS:
                    log.exception("status feed: update at %s failed; skipped", where)
                    self.skipped += 1
                    return
                await self._sleep(RETRY_SECONDS[attempt - 1])

    async def _sleep(self, seconds: float) -> None:
        with suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)


def status_feed_consumer(
    sessionmaker: async_sessionmaker[AsyncSession], settings: Settings
) -> StatusFeedConsumer | None:
    """The consumer (not started) when Kafka is configured, else None (webhook only)."""
    if not settings.kafka_bootstrap_servers:
        return None
    return StatusFeedConsumer(sessionmaker, settings)
