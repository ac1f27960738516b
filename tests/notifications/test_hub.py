"""The hub on its own: fan-out that never waits for a slow client, the heartbeat loop, and
shutdown. Sockets here are stand-ins recording what the hub sends (one can stall)."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import pytest
from starlette.websockets import WebSocket, WebSocketState

from flightdeck.notifications.hub import Connection, WebSocketHub, flight_channel
from flightdeck.platform.events.bus import Event

pytestmark = pytest.mark.asyncio(loop_scope="session")

LATER = datetime.now(UTC) + timedelta(days=1)


@pytest.fixture(autouse=True)
def smtp() -> None:
    """No app and no database here (the package's SMTP fixture would bring both)."""


class RecordingSocket:
    """Just what the hub uses of a Starlette WebSocket; `stalled` sockets never finish a send."""

    def __init__(self, *, stalled: bool = False) -> None:
        self.stalled = stalled
        self.sent: list[dict[str, Any]] = []
        self.closed_with: int | None = None
        self.application_state = WebSocketState.CONNECTED

    async def send_text(self, text: str) -> None:
        if self.stalled:
            await asyncio.Event().wait()
        self.sent.append(json.loads(text))

    async def close(self, code: int = 1000, reason: str | None = None) -> None:
        self.closed_with = code
        self.application_state = WebSocketState.DISCONNECTED


def open_connection(
    hub: WebSocketHub, user_id: str, *, stalled: bool = False, queue_size: int = 4
) -> tuple[Connection, RecordingSocket]:
    socket = RecordingSocket(stalled=stalled)
    connection = Connection(cast(WebSocket, socket), user_id, LATER, queue_size=queue_size)
    hub.add(connection)
    connection.start()
    return connection, socket


def status_event(flight_id: str, number: int) -> Event:
    return Event(
        id=f"evt-{number}",
        type="flight.status_changed",
        aggregate_type="flight",
        aggregate_id=flight_id,
        payload={"flight_id": flight_id, "flight_number": "FD1", "status": "delayed"},
        occurred_at=datetime.now(UTC),
    )


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_a_stalled_client_is_dropped_and_the_others_still_get_everything() -> None:
    hub = WebSocketHub(heartbeat_seconds=60)
    slow, slow_socket = open_connection(hub, "u-slow", stalled=True)
    fast, fast_socket = open_connection(hub, "u-fast")
    for connection in (slow, fast):
        hub.subscribe(connection, flight_channel("f1"))
    for number in range(10):
        await hub.handle_event(status_event("f1", number))
        await settle()
    assert [m["event_id"] for m in fast_socket.sent] == [f"evt-{n}" for n in range(10)]
    assert slow.close_code == 1013  # try again later: it fell behind
    await settle()
    assert slow_socket.closed_with == 1013
    await slow.stop()
    await fast.stop()


async def test_the_heartbeat_loop_pings_every_socket() -> None:
    hub = WebSocketHub(heartbeat_seconds=0.02)
    connection, socket = open_connection(hub, "u1")
    hub.start()
    try:
        for _ in range(100):
            if socket.sent:
                break
            await asyncio.sleep(0.01)
        assert socket.sent[:1] == [{"type": "ping"}]
    finally:
        await hub.stop()
    await settle()
    assert socket.closed_with == 1001  # shutdown says going away
    await connection.stop()


async def test_events_go_only_to_the_sockets_they_concern() -> None:
    hub = WebSocketHub(heartbeat_seconds=60)
    owner, owner_socket = open_connection(hub, "owner")
    other, other_socket = open_connection(hub, "other")
    booking = Event(
        id="evt-b",
        type="booking.confirmed",
        aggregate_type="booking",
        aggregate_id="b1",
        payload={"booking_id": "b1", "pnr": "ABC123", "user_id": "owner", "flight_ids": ["f9"]},
        occurred_at=datetime.now(UTC),
    )
    await hub.handle_event(booking)
    await hub.handle_event(status_event("f9", 1))  # the owner now follows f9
    # A malformed event is logged and skipped; the feed goes on.
    await hub.handle_event(Event("evt-x", "flight.status_changed", "flight", "f9", {}, LATER))
    await settle()
    assert [m["type"] for m in owner_socket.sent] == ["booking.confirmed", "flight.status"]
    assert owner_socket.sent[0]["pnr"] == "ABC123"
    assert other_socket.sent == []
    hub.remove(owner)
    assert owner.channels == set()
    await owner.stop()
    await other.stop()
