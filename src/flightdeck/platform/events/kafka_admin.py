"""Housekeeping of the Kafka clients: the broker-reset guard, creating missing topics and
closing clients safely (used by the bus in kafka.py and by the status-feed consumer).
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError

log = logging.getLogger(__name__)

MARKER_REFRESH_SECONDS = 600.0  # re-commit the marker so an idle group's offsets never expire


class BrokerResetGuard:
    """Tells whether the broker lost its state since the marker was committed."""

    def __init__(
        self, bootstrap_servers: str, topic: str, prefix: str, wait_seconds: float, **config: Any
    ) -> None:
        self._partition = TopicPartition(topic, 0)
        self._config: dict[str, Any] = {
            "bootstrap_servers": bootstrap_servers,
            "group_id": f"{prefix}-marker-{uuid.uuid4().hex}",
            "enable_auto_commit": False,
            **config,
        }
        self._wait_seconds = wait_seconds
        self._consumer: AIOKafkaConsumer | None = None
        self._lock = asyncio.Lock()
        self._marked_at = 0.0
        self._checked_at = 0.0
        self._lost = False  # the marker is gone and not committed again yet
        self.resets = 0

    async def check(self, *, max_age: float = 0.0) -> int:
        """How many resets were seen so far. A fresh round trip to the broker unless one
        finished less than `max_age` seconds ago. Raises KafkaError when it cannot tell."""
        async with self._lock:
            if self._consumer is not None and time.monotonic() - self._checked_at < max_age:
                return self.resets
            try:
                await asyncio.wait_for(self._round_trip(), self._wait_seconds)
            except TimeoutError as exc:
                raise KafkaError("the broker did not answer the marker check") from exc
            except KafkaError:
                raise
            except Exception as exc:  # a connection torn down mid-call raises plain errors too
                raise KafkaError(f"marker check failed: {exc!r}") from exc
            self._checked_at = time.monotonic()
            return self.resets

    async def _round_trip(self) -> None:
        if self._consumer is None:
            self._consumer = await self._connect()
        elif await self._consumer.committed(self._partition) is None:
            if not self._lost:
                self._lost = True
                self.resets += 1
                log.warning("the Kafka broker lost its data: consumers rewind to the beginning")
            # A new client: the old one's metadata still describes the lost topics.
            consumer, self._consumer = self._consumer, None
            await close_client(consumer)
            self._consumer = await self._connect()
        elif time.monotonic() - self._marked_at > MARKER_REFRESH_SECONDS:
            await self._mark(self._consumer)

    async def _connect(self) -> AIOKafkaConsumer:
        consumer = AIOKafkaConsumer(**self._config)
        try:
            await consumer.start()
            consumer.assign([self._partition])
            await self._mark(consumer)
        except BaseException:
            await close_client(consumer)
            raise
        return consumer

    async def _mark(self, consumer: AIOKafkaConsumer) -> None:
        # Reading the end offset makes an auto-creating broker create the topic: a commit
        # to a partition it does not know is refused (and aiokafka retries that for ever).
        await consumer.seek_to_end(self._partition)
        await consumer.commit({self._partition: 0})
        self._marked_at = time.monotonic()
        self._lost = False

    async def stop(self) -> None:
        if self._consumer is not None:
            await close_client(self._consumer)
            self._consumer = None


async def close_client(client: Any) -> None:
    """Stops an aiokafka client (consumer, producer or admin); its errors are only logged.
    aiokafka's stop() can re-raise the CancelledError of its own background tasks, which
    would end the task that merely closed a client (a consumer loop, for ever): that one is
    swallowed unless this task itself is being cancelled."""
    try:
        await (client.close() if isinstance(client, AIOKafkaAdminClient) else client.stop())
    except asyncio.CancelledError:
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            raise
        log.debug("closing a Kafka client re-raised an internal cancellation")
    except Exception as exc:
        log.debug("closing a Kafka client: %r", exc)


async def create_topics(
    bootstrap_servers: str,
    names: Sequence[str],
    partitions: int,
    replication_factor: int,
    timeout: float,  # noqa: ASYNC109
    **config: Any,
) -> None:
    """Creates the topics the broker does not have yet (an existing one is left as it is).
    Raises when the broker cannot be asked; a topic it refuses is logged."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, **config)
    try:
        await asyncio.wait_for(admin.start(), timeout)
        topics = [NewTopic(name, partitions, replication_factor) for name in names]
        response = await asyncio.wait_for(admin.create_topics(topics), timeout)
    finally:
        await close_client(admin)
    for topic, code, message in _topic_errors(response):
        if code not in (0, TOPIC_ALREADY_EXISTS):
            log.warning("could not create topic %s: %s (%s)", topic, message, code)


TOPIC_ALREADY_EXISTS = 36  # Kafka's error code


def _topic_errors(response: Any) -> list[tuple[str, int, str | None]]:
    """(topic, error code, message) of a CreateTopics response, whatever its version."""
    return [(str(e[0]), int(e[1]), e[2] if len(e) > 2 else None) for e in response.topic_errors]
