"""The Kafka event bus (aiokafka): a topic per event family, keyed by aggregate id.

- Publishing: one producer, acks="all", no idempotence (the outbox and idempotent consumers
  cover duplicates). A broker that cannot take an event raises `BusUnavailable`.
- Competing groups (`group="notifications"`): one consumer per group and process, Kafka group
  `<prefix>.<group>`, starting from the earliest offset the group has not committed; offsets
  are committed after the handlers ran (at least once).
- Broadcast (`group=None`): one consumer per process without a Kafka group, assigned every
  partition of its topics by hand (no group, so no rebalance can hold its reads up); it
  starts at the end of each partition (a new process does not replay history).
- Topics: the bus creates the topics of every event family that are missing (partitions and
  replication factor from settings) when it starts and after a broker reset; an existing topic
  is left as it is, and a broker that refuses (no permission) is only logged.
- A broker that lost its data (a restart of an in-memory broker such as Tansu recreates the
  topics empty) would leave consumers waiting at offsets the new log has not reached, or
  skipping the first events written after the restart. `BrokerResetGuard` commits a marker
  offset for a private group and reads it back after every fetched batch (and while idle);
  when it is gone, every consumer rewinds to the beginning. On a durable Kafka it never fires.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.errors import (
    InvalidTopicError,
    KafkaError,
    MessageSizeTooLargeError,
    RecordListTooLargeError,
    RecordTooLargeError,
)
from prometheus_client import Counter

from flightdeck.platform.events.bus import (
    FAMILIES,
    BusUnavailable,
    Event,
    EventHandler,
    HandlerGroup,
    group_key,
)
from flightdeck.platform.events.kafka_admin import BrokerResetGuard, close_client, create_topics

log = logging.getLogger(__name__)

CONSUMED = Counter("flightdeck_events_consumed_total", "Events read from Kafka", ["group"])

POLL_MS = 500  # one getmany() wait; an idle consumer also checks for a broker reset this often
MAX_RECORDS = 500
RETRY_SECONDS = (0.1, 0.2, 0.5, 1.0, 2.0)  # reconnect backoff steps
STOP_GRACE_SECONDS = 5.0
# Errors that belong to the event itself: retrying will not help.
EVENT_ERRORS = (
    MessageSizeTooLargeError,
    RecordTooLargeError,
    RecordListTooLargeError,
    InvalidTopicError,
)


def _backoff(attempt: int) -> float:
    return RETRY_SECONDS[min(attempt, len(RETRY_SECONDS) - 1)]


@dataclass
class _Subscriber:
    group: HandlerGroup
    topics: list[str]
    consumer: AIOKafkaConsumer | None = None
    task: asyncio.Task[None] | None = None
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    seen_reset: int = 0  # the guard's reset count this consumer has rewound for


class KafkaBus:
    def __init__(
        self,
        bootstrap_servers: str,
        *,
        topic_prefix: str = "flightdeck",
        request_timeout_ms: int = 5000,
        session_timeout_ms: int = 10_000,
        heartbeat_interval_ms: int = 3000,
        fetch_max_wait_ms: int = 100,
        topic_partitions: int = 4,
        replication_factor: int = 1,
        client_id: str = "flightdeck",
    ) -> None:
        self.bootstrap_servers = bootstrap_servers
        self.topic_prefix = topic_prefix
        self._timeout = request_timeout_ms / 1000
        self._common: dict[str, Any] = {
            "client_id": client_id,
            "request_timeout_ms": request_timeout_ms,
            "retry_backoff_ms": 100,
        }
        # A broker that holds a fetch for its whole wait even when records arrive (Tansu
        # does) adds up to this much latency; Kafka answers as soon as there is data.
        self._consumer_config: dict[str, Any] = {"fetch_max_wait_ms": fetch_max_wait_ms}
        self._group_config: dict[str, Any] = {
            "session_timeout_ms": session_timeout_ms,
            "heartbeat_interval_ms": heartbeat_interval_ms,
            # aiokafka waits for a JoinGroup answer no longer than the request timeout, and
            # a broker may hold that answer for up to the session timeout.
            "request_timeout_ms": max(request_timeout_ms, session_timeout_ms + 1000),
        }
        self._new_topics = (topic_partitions, replication_factor)
        self._topics_ensured_for: int | None = None  # the guard's reset count at the last time
        self._topics_lock = asyncio.Lock()
        self._groups: dict[str, HandlerGroup] = {}
        self._subscribers: list[_Subscriber] = []
        self._producer: AIOKafkaProducer | None = None
        self._producer_task: asyncio.Task[None] | None = None
        self._producer_ready = asyncio.Event()
        self._refresh_metadata = False
        self._guard: BrokerResetGuard | None = None
        self._stopping = asyncio.Event()
        self._running = False

    def topic_for(self, family: str) -> str:
        return f"{self.topic_prefix}.{family}"

    def subscribe(
        self,
        handler: EventHandler,
        *,
        group: str | None = None,
        event_types: Collection[str] | None = None,
    ) -> None:
        if self._running:
            raise RuntimeError("subscribe() must be called before start()")
        key = group_key(group)
        self._groups.setdefault(key, HandlerGroup(group)).add(handler, event_types)

    def assigned_partitions(self, group: str | None = None) -> frozenset[tuple[str, int]]:
        """The (topic, partition) pairs this process consumes for `group` right now."""
        for sub in self._subscribers:
            if sub.group.name == group and sub.consumer is not None:
                return frozenset((tp.topic, tp.partition) for tp in sub.consumer.assignment())
        return frozenset()

    # --- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        """Connects and positions the consumers; returns within about the request timeout
        even when the broker is down (everything keeps connecting in the background)."""
        if self._running:
            return
        self._running = True
        self._stopping.clear()
        self._producer_task = asyncio.create_task(self._open_producer(), name="kafka-producer")
        self._subscribers = [
            _Subscriber(group, sorted(self.topic_for(f) for f in group.families()))
            for group in self._groups.values()
            if group.families()  # event_types=[] asks for nothing
        ]
        if self._subscribers:
            self._guard = BrokerResetGuard(
                self.bootstrap_servers, self._subscribers[0].topics[0], self.topic_prefix,
                self._timeout, **self._common,
            )  # fmt: skip
        for sub in self._subscribers:
            name = f"kafka-consumer-{sub.group.name or 'broadcast'}"
            sub.task = asyncio.create_task(self._consume(sub), name=name)
            sub.task.add_done_callback(_report_end)
        waits = [self._producer_ready.wait(), *(sub.ready.wait() for sub in self._subscribers)]
        try:
            await asyncio.wait_for(asyncio.gather(*waits), timeout=self._timeout * 2)
        except TimeoutError:
            log.warning("Kafka at %s is not reachable yet; retrying", self.bootstrap_servers)

    async def stop(self) -> None:
        """Lets handlers finish the batch in hand (bounded), then closes every client."""
        if not self._running:
            return
        self._running = False
        self._stopping.set()
        tasks = [t for t in (self._producer_task, *(s.task for s in self._subscribers)) if t]
        _, pending = await asyncio.wait(tasks, timeout=STOP_GRACE_SECONDS) if tasks else ((), ())
        for task in pending:
            task.cancel()
        for task in tasks:
            with suppress(asyncio.CancelledError, Exception):
                await task
        closers = [close_client(s.consumer) for s in self._subscribers if s.consumer]
        if self._guard is not None:
            closers.append(self._guard.stop())
        if self._producer is not None:
            closers.append(close_client(self._producer))
        for closer in closers:
            with suppress(Exception):
                await asyncio.wait_for(closer, STOP_GRACE_SECONDS)
        self._producer = None
        self._producer_ready.clear()
        self._subscribers = []
        self._guard = None

    async def _open_producer(self) -> None:
        attempt = 0
        while not self._stopping.is_set():
            producer = AIOKafkaProducer(
                bootstrap_servers=self.bootstrap_servers,
                acks="all",
                enable_idempotence=False,
                linger_ms=0,
                **self._common,
            )
            try:
                await producer.start()
            except BaseException as exc:  # close the client, also when stop() cancels us
                await close_client(producer)
                if not isinstance(exc, Exception):
                    raise
                log.info("Kafka producer cannot connect yet: %r", exc)
                await self._sleep(_backoff(attempt))
                attempt += 1
                continue
            self._producer = producer
            self._producer_ready.set()
            return

    async def _sleep(self, seconds: float) -> None:
        with suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)

    # --- publishing -------------------------------------------------------------------------

    async def publish(self, event: Event) -> None:
        [failure] = await self.publish_many([event])
        if failure is not None:
            raise failure

    async def publish_many(self, events: Sequence[Event]) -> list[Exception | None]:
        """Sends the events and waits for the broker's acks; returns None per acknowledged
        event, else its error (BusUnavailable when the broker is).

        One aggregate's events go one after the other, each sent once the one before it is
        acknowledged; the aggregates go side by side (pipelined). After an event fails, the
        later events of its aggregate are not sent (they fail with BusUnavailable, so the
        relay sends them again after it): pipelined, a failed event was sent again after the
        later ones had arrived, and a flight's followers saw "delayed" after "departed"
        (tests/notifications/test_cross_instance.py, after a broker outage). Once an event
        finds the broker unavailable, no other is sent in this batch."""
        producer = self._producer
        if producer is None or not self._running:
            return [BusUnavailable("the Kafka producer is not connected")] * len(events)
        if self._refresh_metadata and not await self._refreshed(producer):
            return [BusUnavailable("no metadata from the Kafka broker")] * len(events)
        results: list[Exception | None] = [None] * len(events)
        by_aggregate: dict[str, list[int]] = {}
        for index, event in enumerate(events):
            by_aggregate.setdefault(event.aggregate_id, []).append(index)
        refused: list[BusUnavailable] = []  # the broker's first unavailability, once seen

        async def one_aggregate(indexes: list[int]) -> None:
            for position, index in enumerate(indexes):
                outcome = refused[0] if refused else await self._send(producer, events[index])
                if outcome is None:
                    continue
                if isinstance(outcome, BusUnavailable) and not refused:
                    refused.append(outcome)
                results[index] = outcome
                later = BusUnavailable(f"an earlier event of its aggregate failed: {outcome!r}")
                for skipped in indexes[position + 1 :]:
                    results[skipped] = refused[0] if refused else later
                return

        await asyncio.gather(*(one_aggregate(indexes) for indexes in by_aggregate.values()))
        if any(isinstance(result, BusUnavailable) for result in results):
            self._refresh_metadata = True
        return results

    async def _send(self, producer: AIOKafkaProducer, event: Event) -> Exception | None:
        """One event sent and acknowledged: None, else its error."""
        try:
            sent = producer.send(
                self.topic_for(event.family), event.to_json(), key=event.aggregate_id.encode()
            )
            acknowledged = await asyncio.wait_for(sent, self._timeout)
        except Exception as exc:
            return _classify(exc)
        return await _acknowledged(acknowledged, self._timeout)

    async def _refreshed(self, producer: AIOKafkaProducer) -> bool:
        """After a failure, metadata is fetched again before the next send: a broker that came
        back empty then recreates its topics first (Tansu loses a record produced to a topic
        it is still recreating)."""
        try:
            updated = await asyncio.wait_for(producer.client.force_metadata_update(), self._timeout)
        except (KafkaError, TimeoutError):
            return False
        self._refresh_metadata = not updated
        return bool(updated)

    # --- consuming --------------------------------------------------------------------------

    def _new_consumer(self, sub: _Subscriber) -> AIOKafkaConsumer:
        if sub.group.name is None:  # broadcast: no group, every partition, in memory offsets
            return AIOKafkaConsumer(
                bootstrap_servers=self.bootstrap_servers,
                group_id=None,
                auto_offset_reset="earliest",
                **(self._common | self._consumer_config),
            )
        return AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap_servers,
            group_id=f"{self.topic_prefix}.{sub.group.name}",
            auto_offset_reset="earliest",
            enable_auto_commit=False,
            **(self._common | self._consumer_config | self._group_config),
        )

    async def _open_consumer(self, sub: _Subscriber) -> None:
        """Starts the consumer (retrying until the broker answers) and positions it."""
        attempt = 0
        while not self._stopping.is_set():
            consumer = self._new_consumer(sub)
            try:
                assert self._guard is not None
                resets = await self._guard.check()
                await self.ensure_topics(resets)
                await consumer.start()  # reads the metadata of every topic
                if sub.group.name is None:
                    await self._assign_all_at_end(consumer, sub.topics)
                else:
                    consumer.subscribe(sub.topics)
                sub.seen_reset = resets
            except BaseException as exc:  # close the client, also when stop() cancels us
                await close_client(consumer)
                if not isinstance(exc, Exception):
                    raise
                log.info("Kafka consumer %s cannot start yet: %r", sub.group.name, exc)
                await self._sleep(_backoff(attempt))
                attempt += 1
                continue
            sub.consumer = consumer
            sub.ready.set()
            return

    async def _assign_all_at_end(self, consumer: AIOKafkaConsumer, topics: list[str]) -> None:
        """A broadcast consumer reads every partition of its topics (from the metadata it
        started with), assigned by hand; a new one sees events published from now on."""
        known = {topic: consumer.partitions_for_topic(topic) or set() for topic in topics}
        missing = [topic for topic, partitions in known.items() if not partitions]
        if missing:
            raise KafkaError(f"the broker does not know the topics {missing} yet")
        partitions = [TopicPartition(t, p) for t, ps in sorted(known.items()) for p in sorted(ps)]
        consumer.assign(partitions)
        await consumer.seek_to_end(*partitions)

    async def ensure_topics(self, resets: int | None = None) -> None:
        """Creates the topics of every event family that the broker does not have; once per
        broker reset (`resets`, the guard's count). Best effort: a broker that refuses or
        does not answer is logged, and consumers wait for the topics as before."""
        async with self._topics_lock:
            if resets is not None and self._topics_ensured_for == resets:
                return
            partitions, replication = self._new_topics
            names = [self.topic_for(family) for family in FAMILIES]
            try:
                await create_topics(
                    self.bootstrap_servers, names, partitions, replication, self._timeout,
                    **self._common,
                )  # fmt: skip
            except Exception as exc:  # best effort: consumers wait for the topics as before
                log.info("could not create the event topics: %r", exc)
                return
            self._topics_ensured_for = resets

    async def _consume(self, sub: _Subscriber) -> None:
        await self._open_consumer(sub)
        consumer = sub.consumer
        label = sub.group.name or "broadcast"
        attempt = 0
        while consumer is not None and not self._stopping.is_set():
            try:
                batches = await consumer.getmany(timeout_ms=POLL_MS, max_records=MAX_RECORDS)
                if batches:
                    log.debug("consumer %s fetched %s", label, _describe(batches))
                if await self._broker_was_reset(sub, fresh=bool(batches)):
                    if consumer.assignment():
                        await consumer.seek_to_beginning(*consumer.assignment())
                    log.debug("consumer %s rewound to the beginning", label)
                    continue  # the batch was read at offsets of the lost log
                if batches:
                    await self._handle(sub, consumer, batches)
                attempt = 0
            except KafkaError as exc:
                log.warning("Kafka consumer %s: %s", label, exc)
                await self._sleep(_backoff(attempt))
                attempt += 1
            except Exception:  # never let one surprise end this process's consumption
                log.exception("Kafka consumer %s failed; carrying on", label)
                await self._sleep(_backoff(attempt))
                attempt += 1

    async def _broker_was_reset(self, sub: _Subscriber, *, fresh: bool) -> bool:
        """After a batch (`fresh`), a round trip must prove the broker kept its data; while
        idle a recent check will do, and an unreachable broker is no news."""
        assert self._guard is not None
        attempt = 0
        while True:
            try:
                resets = await self._guard.check(max_age=0.0 if fresh else POLL_MS / 1000)
                break
            except KafkaError:
                if not fresh or self._stopping.is_set():
                    return False
                await self._sleep(_backoff(attempt))
                attempt += 1
        if resets == sub.seen_reset:
            return False
        sub.seen_reset = resets
        await self.ensure_topics(resets)  # the lost topics exist again before anyone rewinds
        return True

    async def _handle(
        self,
        sub: _Subscriber,
        consumer: AIOKafkaConsumer,
        batches: dict[TopicPartition, list[ConsumerRecord[bytes, bytes]]],
    ) -> None:
        # Partitions are independent (different aggregates): handle them side by side.
        await asyncio.gather(*(self._handle_records(sub, records) for records in batches.values()))
        if sub.group.name is None:
            return
        offsets = {tp: records[-1].offset + 1 for tp, records in batches.items()}
        try:
            await asyncio.wait_for(consumer.commit(offsets), self._timeout)
        except (KafkaError, TimeoutError) as exc:  # a rebalance or an outage: they come again
            log.warning("commit for group %s failed: %s", sub.group.name, exc)

    async def _handle_records(
        self, sub: _Subscriber, records: list[ConsumerRecord[bytes, bytes]]
    ) -> None:
        label = sub.group.name or "broadcast"
        for record in records:
            try:
                event = Event.from_json(record.value or b"")
            except (ValueError, KeyError, TypeError):
                log.error("unreadable event at %s:%s@%s", record.topic, record.partition,
                          record.offset)  # fmt: skip
                continue
            CONSUMED.labels(label).inc()
            if sub.group.wants(event):
                await sub.group.dispatch(event)


def _report_end(task: asyncio.Task[None]) -> None:
    """A consumer task ends only when the bus stops it: an error that ended one is logged."""
    if not task.cancelled() and task.exception() is not None:
        log.error("%s ended with an error", task.get_name(), exc_info=task.exception())


def _describe(batches: dict[TopicPartition, list[ConsumerRecord[bytes, bytes]]]) -> str:
    return ", ".join(
        f"{tp.topic}[{tp.partition}]@{records[0].offset}..{records[-1].offset}"
        for tp, records in batches.items()
    )


def _classify(exc: BaseException) -> Exception:
    """The event's own problem is returned as is; anything about the broker is
    BusUnavailable (retry later)."""
    if isinstance(exc, EVENT_ERRORS) or not isinstance(exc, KafkaError | TimeoutError | OSError):
        return exc if isinstance(exc, Exception) else BusUnavailable(repr(exc))
    return BusUnavailable(f"{type(exc).__name__}: {exc}")


async def _acknowledged(
    outcome: asyncio.Future[Any] | Exception, wait_seconds: float
) -> Exception | None:
    if isinstance(outcome, Exception):
        return outcome
    try:
        await asyncio.wait_for(outcome, wait_seconds)
    except Exception as exc:
        return _classify(exc)
    return None


__all__ = ["FAMILIES", "BrokerResetGuard", "KafkaBus"]
