"""FlightDeck scaled out as deployed: every service alone in its own processes (flights, and two
instances each of search, bookings and notifications), behind the real gateway (nginx), sharing one
PostgreSQL primary and its streaming replica, Redis and a Kafka broker — one stack for the
module, the tests in order (the last one kills an instance):

- 200 clients race for the last 10 seats through the gateway: exactly 10 sold, by both
  bookings instances;
- a status change made through the flights service reaches sockets held by both
  notifications instances;
- a schedule change made on the flights instance is seen at once by searches on both search
  instances, which had cached the route, once the replica has replayed it (the cache drops the
  route on every instance);
- a rate limit of N per minute admits N in total across two instances;
- a bookings instance SIGKILLed under load: every booking a client got a 201 for exists,
  nothing is sold twice, and clients that retry with their Idempotency-Key get their booking.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import httpx
import pytest
import pytest_asyncio
from sqlalchemy import text
from websockets.asyncio.client import ClientConnection, connect

from flightdeck.platform.clock import utcnow
from flightdeck.platform.db import create_engine, create_sessionmaker
from flightdeck.platform.migrations import upgrade_database
from flightdeck.platform.security.passwords import hash_password
from flightdeck.platform.security.tokens import issue_access_token
from flightdeck.platform.settings import Settings
from flightdeck.users.models import User
from tests.conftest import TEST_PASSWORD, make_settings
from tests.deploy.stack import Stack, running_stack
from tests.servers.kafka import running_kafka
from tests.servers.postgres import PostgresServer, wait_for_replica
from tests.servers.redis import running_redis

LAYOUT = {"flights": 1, "search": 2, "bookings": 2, "notifications": 2}
SEARCH_LIMIT = 10  # per minute, per signed-in user: shared by the search instances
BOUND_SECONDS = 30.0  # how long anything may take on a loaded machine before it is a failure


@dataclass
class Deployment:
    stack: Stack
    settings: Settings  # the primary's and the replica's URLs, the secrets
    agent: dict[str, str]
    passengers: list[dict[str, str]] = field(default_factory=list)

    def instance_url(self, service: str, index: int) -> str:
        return self.stack.instances[service][index].base_url


def _environment(settings: Settings, redis_url: str, kafka: str) -> dict[str, str]:
    unlimited = "1000000/minute"
    return {
        "FLIGHTDECK_DATABASE_URL": settings.database_url,
        "FLIGHTDECK_DATABASE_REPLICA_URL": settings.database_replica_url,
        "FLIGHTDECK_DATABASE_REPLICA_MAX_LAG_SECONDS": "30",
        "FLIGHTDECK_DATABASE_POOL_SIZE": "15",
        "FLIGHTDECK_JWT_SECRET": settings.jwt_secret,
        "FLIGHTDECK_ENCRYPTION_KEYS": settings.encryption_keys,
        "FLIGHTDECK_REDIS_URL": redis_url,
        "FLIGHTDECK_KAFKA_BOOTSTRAP_SERVERS": kafka,
        "FLIGHTDECK_KAFKA_TOPIC_PREFIX": f"scale{uuid.uuid4().hex[:8]}",
        "FLIGHTDECK_KAFKA_REQUEST_TIMEOUT_MS": "2000",
        "FLIGHTDECK_RELAY_MAX_BACKOFF_SECONDS": "0.5",
        "FLIGHTDECK_TRUSTED_PROXIES": "127.0.0.1",  # the gateway
        "FLIGHTDECK_HOLD_SWEEP_SECONDS": "0",
        "FLIGHTDECK_LOG_LEVEL": "WARNING",
        "FLIGHTDECK_SEARCH_CACHE_SECONDS": "300",
        # Redis answers slowly on a loaded machine; the limits must count there, not fall back.
        "FLIGHTDECK_RATE_LIMIT_STORAGE_TIMEOUT_SECONDS": "5",
        "FLIGHTDECK_RATE_LIMIT_SEARCH": f"{SEARCH_LIMIT}/minute",
        **{
            f"FLIGHTDECK_RATE_LIMIT_{name}": unlimited
            for name in ("PER_ADDRESS", "PER_USER", "REGISTER", "LOGIN", "CREATE_BOOKING")
        },
    }


async def _users(settings: Settings, role: str, count: int) -> list[dict[str, str]]:
    """`count` users stored at once (one password hash) → their bearer headers."""
    password_hash = await asyncio.to_thread(hash_password, TEST_PASSWORD)
    users = [
        User(
            email=f"{role}-{os.urandom(4).hex()}-{i}@example.com",
            password_hash=password_hash,
            full_name=f"Scale {role} {i}",
            role=role,
        )
        for i in range(count)
    ]
    engine = create_engine(settings)
    try:
        async with create_sessionmaker(engine)() as session:
            session.add_all(users)
            await session.commit()
    finally:
        await engine.dispose()
    tokens = [issue_access_token(settings, user.id, role)[0] for user in users]
    return [{"Authorization": f"Bearer {token}"} for token in tokens]


@pytest.fixture(scope="module")
def deployment_settings(
    replicated_postgres: tuple[PostgresServer, PostgresServer],
) -> Settings:
    primary, standby = replicated_postgres
    name = f"scale_{os.urandom(3).hex()}"
    url = primary.create_database(name)
    settings = make_settings(url).model_copy(update={"database_replica_url": standby.url(name)})
    upgrade_database(settings)
    return settings


@pytest.fixture(scope="module")
def stack(
    deployment_settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    with running_redis() as redis, running_kafka() as kafka:
        env = _environment(deployment_settings, redis.url(), kafka.bootstrap_servers)
        run_dir = tmp_path_factory.mktemp("gateway")
        with running_stack(env, LAYOUT, run_dir) as running:
            yield running


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def deployment(stack: Stack, deployment_settings: Settings) -> Deployment:
    [agent] = await _users(deployment_settings, "agent", 1)
    return Deployment(stack, deployment_settings, agent)


@pytest_asyncio.fixture(loop_scope="session")
async def http() -> AsyncIterator[httpx.AsyncClient]:
    limits = httpx.Limits(max_connections=300, max_keepalive_connections=300)
    async with httpx.AsyncClient(timeout=BOUND_SECONDS * 2, limits=limits) as client:
        yield client


def _departing(days: int, hours: int = 7) -> dict[str, str]:
    departure = (utcnow() + timedelta(days=days)).replace(second=0, microsecond=0)
    return {
        "departure_time": departure.isoformat(),
        "arrival_time": (departure + timedelta(hours=hours)).isoformat(),
    }


async def _flight(http: httpx.AsyncClient, deployment: Deployment, seats: int) -> dict[str, Any]:
    body = {
        "flight_number": f"SC{uuid.uuid4().int % 9000 + 1000}",
        "origin": "JFK",
        "destination": "LHR",
        **_departing(days=3),
        "cabins": {"economy": {"seats": seats, "fare": {"amount": 45000, "currency": "USD"}}},
    }
    response = await http.post(
        f"{deployment.stack.gateway}/flights", json=body, headers=deployment.agent
    )
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def _booking(flight_id: str) -> dict[str, Any]:
    passenger = {"first_name": "Ada", "last_name": "Lovelace", "date_of_birth": "1985-12-10"}
    return {"segments": [flight_id], "cabin": "economy", "passengers": [passenger]}


async def _sold(settings: Settings, flight_id: str) -> tuple[int, int, int]:
    """(seats sold by the counter, seats held by bookings, bookings) of a flight, in SQL."""
    engine = create_engine(settings)
    try:
        async with engine.connect() as conn:
            sold = await conn.scalar(
                text("SELECT sold FROM flight_cabins WHERE flight_id = :f AND cabin = 'economy'"),
                {"f": flight_id},
            )
            held = await conn.scalar(
                text("SELECT coalesce(sum(quantity), 0) FROM inventory_holds WHERE flight_id = :f"),
                {"f": flight_id},
            )
            bookings = await conn.scalar(
                text("SELECT count(*) FROM booking_segments WHERE flight_id = :f"), {"f": flight_id}
            )
    finally:
        await engine.dispose()
    return int(sold or 0), int(held or 0), int(bookings or 0)


# The gateway's access log: `... "POST /bookings HTTP/1.1" 201 512 0.031 127.0.0.1:8101 ...`
_LOGGED = re.compile(r'"(?P<request>[^"]*)" \d+ \d+ [\d.]+ (?P<upstream>\S+) ')


def _answered_by(stack: Stack, request_start: str) -> set[str]:
    """The instances (host:port) that answered requests starting with `request_start`."""
    found = (_LOGGED.search(line) for line in stack.upstream_log().splitlines())
    return {m["upstream"] for m in found if m and m["request"].startswith(request_start)}


# --- the tests, in order ----------------------------------------------------------------------


async def test_200_clients_race_for_the_last_10_seats_and_exactly_10_are_sold(
    deployment: Deployment, http: httpx.AsyncClient
) -> None:
    flight = await _flight(http, deployment, seats=10)
    racers = await _users(deployment.settings, "passenger", 200)
    url = f"{deployment.stack.gateway}/bookings"
    responses = await asyncio.gather(
        *(http.post(url, json=_booking(flight["id"]), headers=headers) for headers in racers)
    )
    statuses = Counter(response.status_code for response in responses)
    assert statuses == {201: 10, 409: 190}, statuses
    codes = {r.json()["error"]["code"] for r in responses if r.status_code == 409}
    assert codes == {"seats_unavailable"}
    assert await _sold(deployment.settings, flight["id"]) == (10, 10, 10)
    bookings_instances = {f"{p.host}:{p.port}" for p in deployment.stack.instances["bookings"]}
    assert _answered_by(deployment.stack, "POST /bookings") == bookings_instances


async def _receive(socket: ClientConnection, wanted: str) -> dict[str, Any]:
    """The next message of type `wanted` (others skipped); fails after BOUND_SECONDS."""
    async with asyncio.timeout(BOUND_SECONDS):
        while True:
            message: dict[str, Any] = json.loads(await socket.recv())
            if message.get("type") == wanted:
                return message


async def _follow(base_url: str, token: str, flight_id: str) -> ClientConnection:
    socket = await connect(f"{base_url.replace('http', 'ws', 1)}/ws?token={token}")
    await _receive(socket, "connected")
    await socket.send(json.dumps({"subscribe": f"flight:{flight_id}"}))
    await _receive(socket, "subscribed")
    return socket


async def test_a_status_change_reaches_sockets_on_both_notifications_instances(
    deployment: Deployment, http: httpx.AsyncClient
) -> None:
    flight = await _flight(http, deployment, seats=50)
    [passenger] = await _users(deployment.settings, "passenger", 1)
    token = passenger["Authorization"].removeprefix("Bearer ")
    sockets = [
        await _follow(deployment.instance_url("notifications", i), token, flight["id"])
        for i in range(2)
    ]
    try:
        response = await http.put(
            f"{deployment.stack.gateway}/flights/{flight['id']}/status",
            json={"status": "delayed", "delay_minutes": 40, "gate": "B7"},
            headers=deployment.agent,
        )
        assert response.status_code == 200, response.text
        messages = [await _receive(socket, "flight.status") for socket in sockets]
    finally:
        for socket in sockets:
            await socket.close()
    for message in messages:
        assert (message["flight_id"], message["status"], message["gate"]) == (
            flight["id"],
            "delayed",
            "B7",
        )


async def _departures(http: httpx.AsyncClient, base_url: str, day: date) -> list[str]:
    response = await http.get(
        f"{base_url}/search",
        params={"origin": "BOS", "destination": "ORD", "date": day.isoformat(), "max_stops": 0},
    )
    assert response.status_code == 200, response.text
    return [i["segments"][0]["departure_time"][11:16] for i in response.json()["itineraries"]]


async def test_a_schedule_change_on_one_instance_is_seen_by_a_search_on_another(
    deployment: Deployment, http: httpx.AsyncClient
) -> None:
    settings = deployment.settings
    day = (utcnow() + timedelta(days=10)).date()
    body = {
        "flight_number": "SC700",
        "origin": "BOS",
        "destination": "ORD",
        "departure_local": "08:00",
        "arrival_local": "10:30",
        "arrival_day_offset": 0,
        "days_of_week": "1234567",
        "valid_from": day.isoformat(),
        "valid_to": (day + timedelta(days=2)).isoformat(),
        "cabins": {"economy": {"seats": 100, "fare": {"amount": 15000, "currency": "USD"}}},
    }
    created = await http.post(
        f"{deployment.instance_url('flights', 0)}/schedules", json=body, headers=deployment.agent
    )
    assert created.status_code == 201, created.text
    await wait_for_replica(settings.database_url, settings.database_replica_url)
    # Searched (and cached, in the shared Redis) on both search instances.
    for i in range(2):
        assert await _departures(http, deployment.instance_url("search", i), day) == ["08:00"]

    changed = await http.put(
        f"{deployment.stack.gateway}/schedules/{created.json()['schedule']['id']}",
        json={**body, "departure_local": "09:15", "arrival_local": "11:45"},
        headers=deployment.agent,
    )
    assert changed.status_code == 200, changed.text
    await wait_for_replica(settings.database_url, settings.database_replica_url)
    for i in range(2):
        assert await _departures(http, deployment.instance_url("search", i), day) == ["09:15"]


async def test_a_rate_limit_of_n_per_minute_admits_n_across_instances(
    deployment: Deployment, http: httpx.AsyncClient
) -> None:
    [searcher] = await _users(deployment.settings, "passenger", 1)
    day = (utcnow() + timedelta(days=20)).date().isoformat()
    statuses = []
    for n in range(2 * SEARCH_LIMIT):  # alternately on each instance
        response = await http.get(
            f"{deployment.instance_url('search', n % 2)}/search",
            params={"origin": "SFO", "destination": "SEA", "date": day},
            headers=searcher,
        )
        statuses.append(response.status_code)
    assert Counter(statuses) == {200: SEARCH_LIMIT, 429: SEARCH_LIMIT}
    assert statuses[:SEARCH_LIMIT] == [200] * SEARCH_LIMIT


@dataclass
class Client:
    """One passenger booking one seat at a time, retrying a failed request with its key."""

    headers: dict[str, str]
    booked: dict[str, str] = field(default_factory=dict)  # Idempotency-Key → booking id
    retried: set[str] = field(default_factory=set)  # keys that needed more than one request


async def _book_until_sold_out(
    http: httpx.AsyncClient, url: str, body: dict[str, Any], client: Client, sold: asyncio.Event
) -> None:
    deadline = time.monotonic() + BOUND_SECONDS * 2
    while time.monotonic() < deadline:
        key = uuid.uuid4().hex
        while time.monotonic() < deadline:
            headers = client.headers | {"Idempotency-Key": key}
            try:
                response = await http.post(url, json=body, headers=headers)
            except httpx.TransportError:
                response = None
            if response is not None and response.status_code == 201:
                client.booked[key] = response.json()["id"]
                sold.set()
                break
            if response is not None and response.status_code == 409:
                return  # sold out
            client.retried.add(key)  # the gateway's 503, or the connection lost: again
            await asyncio.sleep(0.05)
    raise AssertionError("a client could neither book nor see the flight sold out")


async def test_a_bookings_instance_killed_under_load_loses_and_doubles_nothing(
    deployment: Deployment, http: httpx.AsyncClient
) -> None:
    seats = 60
    flight = await _flight(http, deployment, seats=seats)
    clients = [Client(h) for h in await _users(deployment.settings, "passenger", 24)]
    url = f"{deployment.stack.gateway}/bookings"
    some_sold = asyncio.Event()
    load = [
        asyncio.create_task(_book_until_sold_out(http, url, _booking(flight["id"]), c, some_sold))
        for c in clients
    ]
    await asyncio.wait_for(some_sold.wait(), BOUND_SECONDS)
    await asyncio.sleep(0.2)  # well into the load: requests in flight on both instances
    deployment.stack.instances["bookings"][0].kill()
    await asyncio.gather(*load)

    booked = {key: booking for c in clients for key, booking in c.booked.items()}
    assert len(booked) == seats  # every seat sold, each to one key
    assert len(set(booked.values())) == seats  # one booking per key, none made twice
    assert await _sold(deployment.settings, flight["id"]) == (seats, seats, seats)
    for client in clients:  # every 201 a client saw is a booking it can read back
        for booking_id in client.booked.values():
            response = await http.get(f"{url}/{booking_id}", headers=client.headers)
            assert response.status_code == 200, response.text
            assert response.json()["id"] == booking_id
    retried = [key for c in clients for key in c.retried if key in c.booked]
    assert retried, "the kill interrupted no request: nothing was retried"
