"""End-to-end check of the throwaway Kafka broker helper (real Tansu broker, real aiokafka)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError

from .kafka import KafkaBroker, running_kafka
from .process import port_accepts

pytestmark = pytest.mark.asyncio(loop_scope="session")

TOPIC = "flight-events"
# Tansu holds a JoinGroup for about session_timeout/2 (1 s at least): keep it short in tests.
GROUP_TIMEOUTS = {"session_timeout_ms": 2000, "heartbeat_interval_ms": 500}


@pytest_asyncio.fixture(loop_scope="session")
async def broker() -> AsyncIterator[KafkaBroker]:
    started = time.perf_counter()
    with running_kafka() as kafka:
        print(f"kafka start-up: {time.perf_counter() - started:.2f}s")
        yield kafka
    assert not port_accepts(kafka.host, kafka.port)
    assert not kafka.log_path.parent.exists()


def _producer(broker: KafkaBroker) -> AIOKafkaProducer:
    return AIOKafkaProducer(
        bootstrap_servers=broker.bootstrap_servers,
        enable_idempotence=False,  # Tansu answers InitProducerId with UnknownError
        acks="all",
        request_timeout_ms=2000,  # a send to a dead broker fails after this
    )


async def _consume(broker: KafkaBroker, group: str, count: int) -> list[tuple[bytes, bytes]]:
    consumer = AIOKafkaConsumer(
        TOPIC,
        bootstrap_servers=broker.bootstrap_servers,
        group_id=group,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        **GROUP_TIMEOUTS,
    )
    await consumer.start()
    try:
        received: list[tuple[bytes, bytes]] = []
        async with asyncio.timeout(15):
            while len(received) < count:
                message = await consumer.getone()
                assert message.key is not None and message.value is not None
                received.append((message.key, message.value))
        await consumer.commit()
        partition = TopicPartition(TOPIC, 0)
        assert await consumer.committed(partition) == count
        return received
    finally:
        await consumer.stop()


async def _create_topic(broker: KafkaBroker) -> list[str]:
    """Create TOPIC with one partition; return the topics that existed before."""
    admin = AIOKafkaAdminClient(bootstrap_servers=broker.bootstrap_servers)
    await admin.start()
    try:
        existing = sorted(await admin.list_topics())
        await admin.create_topics([NewTopic(TOPIC, num_partitions=1, replication_factor=1)])
        assert TOPIC in await admin.list_topics()
        return existing
    finally:
        await admin.close()


async def test_produce_consume_commit(broker: KafkaBroker) -> None:
    assert broker.host == "127.0.0.1"
    assert broker.bootstrap_servers == f"127.0.0.1:{broker.port}"
    assert await _create_topic(broker) == []

    producer = _producer(broker)
    await producer.start()
    try:
        for i in range(3):
            await producer.send_and_wait(TOPIC, f"event-{i}".encode(), key=b"FD100")
        # Topics are auto-created on first produce (with 4 partitions).
        meta = await producer.send_and_wait("auto-created", b"x", key=b"k")
        assert meta.offset == 0
        assert len(await producer.partitions_for("auto-created")) == 4
    finally:
        await producer.stop()

    received = await _consume(broker, "flightdeck-test", 3)
    assert received == [(b"FD100", f"event-{i}".encode()) for i in range(3)]


async def test_stop_then_restart_on_same_port(broker: KafkaBroker) -> None:
    port = broker.port
    await _create_topic(broker)
    producer = _producer(broker)
    await producer.start()
    try:
        await producer.send_and_wait(TOPIC, b"before", key=b"FD100")

        broker.stop()
        assert not broker.is_running
        assert not port_accepts(broker.host, port)
        started = time.perf_counter()
        with pytest.raises(KafkaError):
            await asyncio.wait_for(producer.send_and_wait(TOPIC, b"lost", key=b"FD100"), 10)
        assert time.perf_counter() - started < 5  # about request_timeout_ms

        started = time.perf_counter()
        broker.restart()
        print(f"kafka restart: {time.perf_counter() - started:.2f}s")
        assert broker.is_running and broker.port == port
        # Memory storage lost the topic: recreate it (a produce would auto-create it with 4
        # partitions). The same producer object reconnects by itself.
        assert await _create_topic(broker) == []
        for i in range(3):
            await producer.send_and_wait(TOPIC, f"after-{i}".encode(), key=b"FD100")
    finally:
        await producer.stop()

    received = await _consume(broker, "flightdeck-test", 3)
    assert received == [(b"FD100", f"after-{i}".encode()) for i in range(3)]
