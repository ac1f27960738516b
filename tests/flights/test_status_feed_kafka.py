"""External status feed on Kafka: updates on the `flight-status-updates` topic of a real broker
(Tansu) are applied by the app's consumer; malformed ones are skipped, not fatal."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
import pytest_asyncio
from aiokafka import AIOKafkaProducer
from fastapi import FastAPI
from tests.conftest import TestUser
from tests.flights.factories import create_flight
from tests.servers.kafka import KafkaBroker, running_kafka
from typer.testing import CliRunner

from flightdeck.cli import app as cli
from flightdeck.flights.status.feed_kafka import StatusFeedConsumer

pytestmark = pytest.mark.asyncio(loop_scope="session")


@pytest.fixture(scope="module")
def feed_broker() -> Iterator[KafkaBroker]:
    with running_kafka() as broker:
        yield broker


@pytest_asyncio.fixture(loop_scope="session")
async def feed_consumer(
    app: FastAPI, feed_broker: KafkaBroker
) -> AsyncIterator[StatusFeedConsumer]:
    """The consumer the app starts when Kafka is configured, on this broker and a fresh group."""
    settings = app.state.settings.model_copy(
        update={
            "kafka_bootstrap_servers": feed_broker.bootstrap_servers,
            "kafka_topic_prefix": f"feed{uuid.uuid4().hex[:8]}",
            "status_feed_topic": f"flight-status-updates-{uuid.uuid4().hex[:8]}",
        }
    )
    consumer = StatusFeedConsumer(app.state.sessionmaker, settings)
    consumer.start()
    yield consumer
    await consumer.stop()


async def _produce(broker: KafkaBroker, topic: str, messages: list[bytes]) -> None:
    producer = AIOKafkaProducer(
        bootstrap_servers=broker.bootstrap_servers, enable_idempotence=False, acks="all"
    )
    await producer.start()
    try:
        for message in messages:
            await producer.send_and_wait(topic, message, key=b"FD101")
    finally:
        await producer.stop()


def update(**fields: Any) -> bytes:
    data = {"flight_number": "FD101", "date": "2026-12-01", "source": "partner-ops", **fields}
    return json.dumps(data).encode()


async def test_updates_on_the_topic_are_applied_and_malformed_ones_skipped(
    client: httpx.AsyncClient,
    agent: TestUser,
    feed_broker: KafkaBroker,
    feed_consumer: StatusFeedConsumer,
) -> None:
    flight = await create_flight(client, agent.headers)
    messages = [
        update(status="delayed", delay_minutes=25, gate="A4"),
        b"{not json",
        update(flight_number="FD999", status="delayed", delay_minutes=5),  # no such flight
        update(status="arrived"),  # a delayed flight cannot arrive: refused
        update(status="boarding", gate="A5", remark="Boarding at A5"),
    ]
    await _produce(feed_broker, feed_consumer._settings.status_feed_topic, messages)
    deadline = time.monotonic() + 20
    while feed_consumer.applied + feed_consumer.skipped < len(messages):
        assert time.monotonic() < deadline, (feed_consumer.applied, feed_consumer.skipped)
        await asyncio.sleep(0.1)
    assert (feed_consumer.applied, feed_consumer.skipped) == (2, 3)
    status = (await client.get(f"/flights/{flight['id']}/status")).json()
    assert (status["status"], status["gate"], status["delay_minutes"]) == ("boarding", "A5", 25)
    history = await client.get(f"/flights/{flight['id']}/status/history", headers=agent.headers)
    assert [h["source"] for h in history.json()] == ["feed:partner-ops"] * 2


async def test_simulate_status_into_kafka_is_applied_by_the_consumer(
    client: httpx.AsyncClient,
    agent: TestUser,
    live_url: str,
    feed_broker: KafkaBroker,
    feed_consumer: StatusFeedConsumer,
) -> None:
    flight = await create_flight(client, agent.headers)
    args = ["simulate-status", "--to", "kafka", "--url", live_url, "--date", "2026-12-01"]
    args += ["--bootstrap-servers", feed_broker.bootstrap_servers, "--speed", "0"]
    args += ["--topic", feed_consumer._settings.status_feed_topic, "--limit", "2", "--seed", "5"]
    result = await asyncio.to_thread(CliRunner().invoke, cli, args)
    assert result.exit_code == 0, result.output
    assert "Sent 2 update(s), 0 refused." in result.output
    deadline = time.monotonic() + 20
    while feed_consumer.applied + feed_consumer.skipped < 2:
        assert time.monotonic() < deadline, (feed_consumer.applied, feed_consumer.skipped)
        await asyncio.sleep(0.1)
    assert feed_consumer.applied == 2
    status = (await client.get(f"/flights/{flight['id']}/status")).json()
    assert status["status"] in {"on_time", "delayed"}
