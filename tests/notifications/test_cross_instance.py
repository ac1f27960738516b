"""Two real server processes sharing one PostgreSQL database and one Kafka broker: a status
change made on instance A reaches a WebSocket client connected to instance B, and changes made
while the broker is down are delivered once it is back — none lost, none sent twice."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import pytest_asyncio
from aiokafka import AIOKafkaConsumer, TopicPartition
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine
from websockets.asyncio.client import ClientConnection, connect

from flightdeck.platform.db import create_engine, create_sessionmaker
from flightdeck.platform.migrations import upgrade_database
from flightdeck.platform.security.passwords import hash_password
from flightdeck.platform.security.tokens import issue_access_token
from flightdeck.platform.settings import Settings
from flightdeck.users.models import User
from tests.conftest import TEST_PASSWORD, make_settings
from tests.flights.factories import flight_payload
from tests.notifications.helpers import eventually
from tests.servers.flightdeck_app import AppProcess, running_apps
from tests.servers.kafka import KafkaBroker, running_kafka

pytestmark = pytest.mark.asyncio(loop_scope="session")

DELIVERY_BUDGET_SECONDS = 1.0


@pytest.fixture
def smtp() -> None:
    """These tests run their own servers: no in-process app, so no mail capture (and the
    test is not parametrised over the SQLite backend)."""


@pytest.fixture(scope="module")
def cross_broker() -> Iterator[KafkaBroker]:
    with running_kafka() as broker:
        yield broker


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def shared_settings(postgres_root_url: str) -> AsyncIterator[Settings]:
    """A fresh database on the suite's PostgreSQL, migrated, dropped afterwards."""
    name = f"flightdeck_x_{uuid.uuid4().hex[:10]}"
    root = create_async_engine(postgres_root_url, isolation_level="AUTOCOMMIT")
    try:
        async with root.connect() as conn:
            await conn.execute(text(f'CREATE DATABASE "{name}"'))
        url = make_url(postgres_root_url).set(database=name).render_as_string(hide_password=False)
        settings = make_settings(url)
        await asyncio.to_thread(upgrade_database, settings)
        yield settings
        async with root.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        await root.dispose()


def instance_env(settings: Settings, broker: KafkaBroker, prefix: str) -> dict[str, str]:
    """The settings both instances share (same database, broker, secrets, topic prefix)."""
    return {
        "FLIGHTDECK_DATABASE_URL": settings.database_url,
        "FLIGHTDECK_JWT_SECRET": settings.jwt_secret,
        "FLIGHTDECK_ENCRYPTION_KEYS": settings.encryption_keys,
        "FLIGHTDECK_KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap_servers,
        "FLIGHTDECK_KAFKA_TOPIC_PREFIX": prefix,
        "FLIGHTDECK_KAFKA_REQUEST_TIMEOUT_MS": "2000",
        "FLIGHTDECK_RELAY_MAX_BACKOFF_SECONDS": "0.5",
        "FLIGHTDECK_HOLD_SWEEP_SECONDS": "0",
        "FLIGHTDECK_LOG_LEVEL": "WARNING",
    }


@dataclass
class Actors:
    agent_headers: dict[str, str]
    passenger_token: str


async def _store_user(settings: Settings, role: str) -> str:
    engine = create_engine(settings)
    try:
        async with create_sessionmaker(engine)() as session:
            user = User(
                email=f"{role}-{os.urandom(4).hex()}@example.com",
                password_hash=await asyncio.to_thread(hash_password, TEST_PASSWORD),
                full_name=f"Cross {role}",
                role=role,
            )
            session.add(user)
            await session.commit()
            return user.id
    finally:
        await engine.dispose()


def _port_open(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


async def _outbox_rows(settings: Settings) -> list[tuple[Any, ...]]:
    """(type, published, attempts, last error) of every outbox row: a failure's evidence."""
    engine = create_engine(settings)
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(
                text("SELECT event_type, published_at, attempts, last_error FROM outbox_events")
            )
            return [tuple(row) for row in rows]
    finally:
        await engine.dispose()


async def _topic_dump(broker: KafkaBroker, prefix: str) -> list[str]:
    """Every record the broker holds on the test's topics: a failure's evidence."""
    consumer = AIOKafkaConsumer(bootstrap_servers=broker.bootstrap_servers, group_id=None)
    await consumer.start()
    try:
        topics = sorted(t for t in await consumer.topics() if t.startswith(prefix))
        parts = [
            TopicPartition(topic, partition)
            for topic in topics
            for partition in sorted(consumer.partitions_for_topic(topic) or [])
        ]
        consumer.assign(parts)
        await consumer.seek_to_beginning(*parts)
        batches = await consumer.getmany(timeout_ms=1000)
        return [
            f"{tp.topic}[{tp.partition}]@{record.offset} {json.loads(record.value or b'{}')}"
            for tp, records in batches.items()
            for record in records
        ]
    finally:
        await consumer.stop()


async def _actors(settings: Settings) -> Actors:
    agent_id = await _store_user(settings, "agent")
    passenger_id = await _store_user(settings, "passenger")
    agent_token, _ = issue_access_token(settings, agent_id, "agent")
    passenger_token, _ = issue_access_token(settings, passenger_id, "passenger")
    return Actors({"Authorization": f"Bearer {agent_token}"}, passenger_token)


async def _receive(socket: ClientConnection, wanted: str, timeout: float) -> dict[str, Any]:  # noqa: ASYNC109
    """The next message of type `wanted` (pings and others skipped)."""
    deadline = time.monotonic() + timeout
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError(f"no {wanted} message within {timeout}s")
        message: dict[str, Any] = json.loads(await asyncio.wait_for(socket.recv(), remaining))
        if message.get("type") == wanted:
            return message


async def _follow(app: AppProcess, token: str, flight_id: str) -> ClientConnection:
    socket = await connect(f"{app.ws_url}/ws?token={token}", open_timeout=5)
    await _receive(socket, "connected", 5)
    await socket.send(json.dumps({"subscribe": f"flight:{flight_id}"}))
    await _receive(socket, "subscribed", 5)
    return socket


async def _create_flight(http: httpx.AsyncClient, app: AppProcess, actors: Actors) -> str:
    response = await http.post(
        f"{app.base_url}/flights",
        json=flight_payload(flight_number=f"FD{uuid.uuid4().int % 9000 + 1000}"),
        headers=actors.agent_headers,
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def test_status_change_on_instance_a_reaches_websocket_on_instance_b_within_a_second(
    shared_settings: Settings, cross_broker: KafkaBroker
) -> None:
    env = instance_env(shared_settings, cross_broker, f"x{uuid.uuid4().hex[:8]}")
    actors = await _actors(shared_settings)
    with running_apps(env, env) as (instance_a, instance_b):
        async with httpx.AsyncClient(timeout=10) as http:
            flight_id = await _create_flight(http, instance_a, actors)
            socket = await _follow(instance_b, actors.passenger_token, flight_id)
            try:
                sent_at = time.monotonic()
                response = await http.put(
                    f"{instance_a.base_url}/flights/{flight_id}/status",
                    json={"status": "delayed", "delay_minutes": 45, "gate": "B7"},
                    headers=actors.agent_headers,
                )
                assert response.status_code == 200, response.text
                message = await _receive(socket, "flight.status", 5)
                latency = time.monotonic() - sent_at
            finally:
                await socket.close()
    print(f"\ncross-instance delivery A → B: {latency * 1000:.0f} ms")
    assert message["flight_id"] == flight_id
    assert message["status"] == "delayed"
    assert message["delay_minutes"] == 45
    assert message["gate"] == "B7"
    assert latency < DELIVERY_BUDGET_SECONDS, f"{latency:.3f}s"


# Five updates, each a change the transition rules allow after the one before.
OUTAGE_UPDATES: list[dict[str, Any]] = [
    {"status": "delayed", "delay_minutes": 20},
    {"status": "delayed", "delay_minutes": 35, "gate": "C3"},
    {"status": "delayed", "delay_minutes": 50},
    {"status": "boarding", "gate": "C4"},
    {"status": "departed"},
]


async def _collect(
    socket: ClientConnection, into: list[dict[str, Any]], stop: asyncio.Event
) -> None:
    while not stop.is_set():
        try:
            raw = await asyncio.wait_for(socket.recv(), 0.2)
        except TimeoutError:
            continue
        message = json.loads(raw)
        if message.get("type") == "flight.status":
            into.append(message)


async def test_changes_while_the_broker_is_down_reach_instance_b_once_after_it_returns(
    shared_settings: Settings, cross_broker: KafkaBroker
) -> None:
    prefix = f"x{uuid.uuid4().hex[:8]}"
    # DEBUG: the consumers log what they fetch and when they rewind (a failure's evidence).
    env = instance_env(shared_settings, cross_broker, prefix) | {"FLIGHTDECK_LOG_LEVEL": "DEBUG"}
    actors = await _actors(shared_settings)
    received: list[dict[str, Any]] = []
    stop = asyncio.Event()
    with running_apps(env, env) as (instance_a, instance_b):
        async with httpx.AsyncClient(timeout=15) as http:
            flight_id = await _create_flight(http, instance_a, actors)
            socket = await _follow(instance_b, actors.passenger_token, flight_id)
            collector = asyncio.create_task(_collect(socket, received, stop))
            try:
                cross_broker.stop()
                for update in OUTAGE_UPDATES:
                    response = await http.put(
                        f"{instance_a.base_url}/flights/{flight_id}/status",
                        json=update,
                        headers=actors.agent_headers,
                    )
                    assert response.status_code == 200, response.text  # committed regardless
                await asyncio.sleep(1.0)  # the relay tries, fails, backs off
                assert received == [], "nothing can travel while the broker is down"
                unpublished = [r for r in await _outbox_rows(shared_settings) if r[1] is None]
                assert len(unpublished) == len(OUTAGE_UPDATES), (
                    f"the outbox keeps the changes while the broker is down "
                    f"(port {cross_broker.port} open: {_port_open(cross_broker.port)}): "
                    f"{await _outbox_rows(shared_settings)}"
                )
                cross_broker.restart()
                restarted = time.monotonic()

                async def all_arrived() -> bool:
                    return len(received) >= len(OUTAGE_UPDATES)

                try:
                    await eventually(all_arrived, timeout=30, what="every change after the outage")
                    recovery = time.monotonic() - restarted
                except AssertionError:
                    print("received:", [m["status"] for m in received])
                    print("outbox:", await _outbox_rows(shared_settings))
                    print("topics:", "\n".join(await _topic_dump(cross_broker, prefix)))
                    print("A:", instance_a.log_tail(200), "\nB:", instance_b.log_tail(200))
                    raise
                await asyncio.sleep(1.5)  # a late duplicate would arrive now
            finally:
                stop.set()
                await collector
                await socket.close()
                if not cross_broker.is_running:
                    cross_broker.restart()
    counts = Counter(message["event_id"] for message in received)
    duplicates = {event_id: n for event_id, n in counts.items() if n > 1}
    print(
        f"\nafter the outage: {len(received)} messages, {len(counts)} events, "
        f"all within {recovery:.2f} s of the restart, duplicates {duplicates}"
    )
    assert duplicates == {}
    statuses = [message["status"] for message in received]
    assert statuses == [update["status"] for update in OUTAGE_UPDATES]
    assert [m["delay_minutes"] for m in received[:3]] == [20, 35, 50]
