"""`WS /ws`: authentication, flight subscriptions, live status, booking and notification
pushes, errors that keep the socket open, heartbeats and token expiry.

The app is served by uvicorn on a real port (`ws_base`); clients are `websockets` clients.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

from flightdeck.platform.clock import clock
from flightdeck.platform.events.outbox import OutboxEvent
from tests.bookings.factories import book, booking_body, confirm, future_flight
from tests.conftest import TestUser, create_user
from tests.notifications.helpers import eventually

pytestmark = pytest.mark.asyncio(loop_scope="session")


def token_of(user: TestUser) -> str:
    return user.headers["Authorization"].removeprefix("Bearer ")


@asynccontextmanager
async def live(
    ws_base: str, token: str | None, *, subprotocol: bool = False
) -> AsyncIterator[ClientConnection]:
    if subprotocol:
        url = f"{ws_base}/ws"
        protocols = [Subprotocol(p) for p in ("bearer", token) if p]
    else:
        url, protocols = f"{ws_base}/ws" + (f"?token={token}" if token else ""), None
    async with connect(url, subprotocols=protocols, proxy=None, open_timeout=5) as socket:
        yield socket


async def receive(socket: ClientConnection, timeout: float = 1.0) -> dict[str, Any]:  # noqa: ASYNC109
    """The next message other than a heartbeat ping."""
    async with asyncio.timeout(timeout):
        while True:
            message: dict[str, Any] = json.loads(await socket.recv())
            if message["type"] != "ping":
                return message


async def send(socket: ClientConnection, message: Any) -> dict[str, Any]:
    await socket.send(json.dumps(message) if not isinstance(message, str) else message)
    return await receive(socket)


async def connected(socket: ClientConnection) -> dict[str, Any]:
    hello = await receive(socket)
    assert hello["type"] == "connected", hello
    return hello


async def close_code(socket: ClientConnection) -> int | None:
    with pytest.raises(ConnectionClosed) as closed:
        await receive(socket, timeout=2.0)
    return closed.value.rcvd.code if closed.value.rcvd else None


async def delivered(app: FastAPI, db: AsyncSession, event_type: str, aggregate_id: str) -> None:
    """Waits until the relay published the aggregate's events and the bus handled them, so
    a message they caused would already be queued on the socket."""

    async def published() -> bool:
        try:
            rows = await db.scalars(
                select(OutboxEvent.published_at).where(
                    OutboxEvent.event_type == event_type, OutboxEvent.aggregate_id == aggregate_id
                )
            )
            stamps = list(rows)
            return bool(stamps) and all(stamp is not None for stamp in stamps)
        finally:
            await db.rollback()

    await eventually(published, what=f"{event_type} of {aggregate_id} published")
    await app.state.bus.drain()


async def put_status(
    client: httpx.AsyncClient, staff: TestUser, flight_id: str, **body: Any
) -> None:
    response = await client.put(f"/flights/{flight_id}/status", json=body, headers=staff.headers)
    assert response.status_code == 200, response.text


async def test_a_query_token_opens_the_feed(
    client: httpx.AsyncClient, ws_base: str, passenger: TestUser
) -> None:
    async with live(ws_base, token_of(passenger)) as socket:
        hello = await connected(socket)
        assert hello["user_id"] == passenger.id
        assert hello["channels"] == []
        assert await send(socket, {"type": "ping"}) == {"type": "pong"}


async def test_the_bearer_subprotocol_opens_the_feed_and_is_echoed(
    client: httpx.AsyncClient, ws_base: str, passenger: TestUser
) -> None:
    async with live(ws_base, token_of(passenger), subprotocol=True) as socket:
        assert socket.subprotocol == "bearer"
        assert (await connected(socket))["user_id"] == passenger.id


@pytest.mark.parametrize("form", ["query", "subprotocol"])
async def test_a_missing_bad_or_expired_token_is_refused_with_4401(
    client: httpx.AsyncClient, app: FastAPI, ws_base: str, form: str
) -> None:
    user = await create_user(app, "passenger")
    clock.advance(timedelta(minutes=app.state.settings.access_token_minutes, seconds=1))
    for token in (None, "not-a-jwt", token_of(user)):  # the last one has just expired
        async with live(ws_base, token, subprotocol=form == "subprotocol") as socket:
            assert await close_code(socket) == 4401


async def test_a_subscribed_flight_status_change_arrives_within_a_second(
    client: httpx.AsyncClient, ws_base: str, agent: TestUser, passenger: TestUser
) -> None:
    flight = await future_flight(client, agent.headers)
    async with live(ws_base, token_of(passenger)) as socket:
        await connected(socket)
        channel = f"flight:{flight['id']}"
        assert await send(socket, {"subscribe": channel}) == {
            "type": "subscribed",
            "channel": channel,
        }
        started = time.monotonic()
        await put_status(client, agent, flight["id"], status="delayed", delay_minutes=40, gate="D4")
        update = await receive(socket, timeout=1.0)
        assert time.monotonic() - started < 1.0
    status = (await client.get(f"/flights/{flight['id']}/status")).json()
    assert update["type"] == "flight.status"
    assert update["flight_id"] == flight["id"]
    assert update["flight_number"] == "FD101"
    assert update["status"] == "delayed"
    assert update["estimated_departure"] == status["estimated_departure"]  # local offset
    assert update["delay_minutes"] == 40 and update["gate"] == "D4"
    assert update["event_id"]


async def test_a_passenger_follows_their_flights_and_bookings_live(
    client: httpx.AsyncClient,
    app: FastAPI,
    db: AsyncSession,
    ws_base: str,
    agent: TestUser,
    passenger: TestUser,
) -> None:
    flight = await future_flight(client, agent.headers)
    booking = await book(client, passenger.headers, booking_body([flight["id"]]))
    # The hold's own event goes out first: relayed after the socket opened, it would arrive
    # there before the two messages the confirmation causes.
    await delivered(app, db, "booking.created", booking["id"])
    async with live(ws_base, token_of(passenger)) as socket:
        hello = await connected(socket)
        assert hello["channels"] == [f"flight:{flight['id']}"]  # followed without asking
        await confirm(app, booking["id"])
        first, second = await receive(socket), await receive(socket)
        by_type = {first["type"]: first, second["type"]: second}
        assert set(by_type) == {"booking.confirmed", "notification"}
        assert by_type["booking.confirmed"]["pnr"] == booking["pnr"]
        assert by_type["booking.confirmed"]["booking_id"] == booking["id"]
        notification = by_type["notification"]["notification"]
        assert notification["kind"] == "booking.confirmed" and notification["read_at"] is None
        assert {first["event_id"], second["event_id"]} != {None}
        await put_status(client, agent, flight["id"], status="boarding", gate="B2")
        messages = [await receive(socket), await receive(socket)]  # status, then its notice
        assert {m["type"] for m in messages} == {"flight.status", "notification"}


async def test_a_new_booking_starts_following_its_flight(
    client: httpx.AsyncClient, ws_base: str, agent: TestUser, passenger: TestUser
) -> None:
    flight = await future_flight(client, agent.headers)
    async with live(ws_base, token_of(passenger)) as socket:
        assert (await connected(socket))["channels"] == []
        await book(client, passenger.headers, booking_body([flight["id"]]))
        assert (await receive(socket))["type"] == "booking.created"
        await put_status(client, agent, flight["id"], status="on_time", gate="E1")
        messages = [await receive(socket), await receive(socket)]
        assert {m["type"] for m in messages} == {"flight.status", "notification"}


async def test_staff_notifications_reach_only_their_recipient_live(
    client: httpx.AsyncClient, app: FastAPI, ws_base: str, agent: TestUser, passenger: TestUser
) -> None:
    bystander = await create_user(app, "passenger")
    async with (
        live(ws_base, token_of(passenger)) as mine,
        live(ws_base, token_of(bystander)) as theirs,
    ):
        await connected(mine)
        await connected(theirs)
        response = await client.post(
            "/notifications",
            json={"user_id": passenger.id, "title": "Seat upgrade", "message": "Row 2."},
            headers=agent.headers,
        )
        assert response.status_code == 202
        pushed = await receive(mine)
        assert pushed["type"] == "notification"
        assert pushed["notification"]["title"] == "Seat upgrade"
        assert pushed["notification"]["message"] == "Row 2."
        # One dispatch pushed to every recipient: had it been for theirs, it would come first.
        assert await send(theirs, {"type": "ping"}) == {"type": "pong"}


async def test_unknown_or_bad_messages_get_errors_and_the_socket_stays_open(
    client: httpx.AsyncClient, ws_base: str, passenger: TestUser
) -> None:
    async with live(ws_base, token_of(passenger)) as socket:
        await connected(socket)
        assert (await send(socket, "hello"))["code"] == "invalid_message"
        assert (await send(socket, [1, 2]))["code"] == "invalid_message"
        assert (await send(socket, {"shout": "hi"}))["code"] == "unknown_message"
        assert (await send(socket, {"subscribe": "weather:JFK"}))["code"] == "invalid_channel"
        assert (await send(socket, {"subscribe": 42}))["code"] == "invalid_channel"
        missing = await send(socket, {"subscribe": "flight:no-such-flight"})
        assert (missing["type"], missing["code"]) == ("error", "flight_not_found")
        assert await send(socket, {"type": "ping"}) == {"type": "pong"}


async def test_after_unsubscribing_a_flight_its_changes_stop(
    client: httpx.AsyncClient,
    app: FastAPI,
    db: AsyncSession,
    ws_base: str,
    agent: TestUser,
    passenger: TestUser,
) -> None:
    flight = await future_flight(client, agent.headers)
    channel = f"flight:{flight['id']}"
    async with live(ws_base, token_of(passenger)) as socket:
        await connected(socket)
        await send(socket, {"subscribe": channel})
        assert await send(socket, {"unsubscribe": channel}) == {
            "type": "unsubscribed",
            "channel": channel,
        }
        await put_status(client, agent, flight["id"], status="on_time", gate="F9")
        await delivered(app, db, "flight.status_changed", flight["id"])
        assert await send(socket, {"type": "ping"}) == {"type": "pong"}  # no status before it


async def test_heartbeats_ping_and_an_expired_token_ends_the_socket(
    client: httpx.AsyncClient, app: FastAPI, ws_base: str, passenger: TestUser
) -> None:
    hub = app.state.hub
    async with live(ws_base, token_of(passenger)) as socket:
        await connected(socket)
        hub.beat()
        async with asyncio.timeout(1):
            assert json.loads(await socket.recv()) == {"type": "ping"}
        clock.advance(timedelta(minutes=app.state.settings.access_token_minutes, seconds=1))
        hub.beat()
        assert await close_code(socket) == 4401
    await eventually(_no_sockets(hub), what="the closed socket leaves the hub")


def _no_sockets(hub: Any) -> Any:
    async def empty() -> bool:
        return len(hub) == 0

    return empty
