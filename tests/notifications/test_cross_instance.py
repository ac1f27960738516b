"""Two real server processes sharing one PostgreSQL database and one Kafka broker: a status
change made on instance A reaches a WebSocket client connected to instance B, and changes made
while the broker is down are delivered once it is back — none lost, none sent twice."""

from __future__ import annotations

import asyncio
import json
import os
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import pytest_asyncio
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
