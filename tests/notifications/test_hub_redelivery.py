"""The hub pushes each event once, however often the bus delivers it (at least once)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest

from flightdeck.notifications import hub as hub_module
from flightdeck.notifications.hub import Connection, WebSocketHub, flight_channel
from flightdeck.platform.events.bus import Event

pytestmark = pytest.mark.asyncio(loop_scope="session")


class RecordingSocket:
    """Just enough of a Starlette WebSocket for the hub's sender task."""

    def __init__(self) -> None:
        self.sent: list[str] = []

    async def send_text(self, text: str) -> None:
        self.sent.append(text)


def status_event(event_id: str) -> Event:
    payload: dict[str, Any] = {"flight_id": "f1", "flight_number": "FD1", "status": "delayed"}
    return Event(event_id, "flight.status_changed", "flight", "f1", payload, datetime.now(UTC))


@pytest.fixture
def smtp() -> None:
    """No app here: the notifications conftest's mail capture is not needed."""


async def test_a_redelivered_event_reaches_each_socket_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(hub_module, "RECENT_EVENT_IDS", 3)
    hub = WebSocketHub(heartbeat_seconds=60)
    socket = RecordingSocket()
    connection = Connection(socket, "u1", datetime.max.replace(tzinfo=UTC))  # type: ignore[arg-type]
    hub.add(connection)
    hub.subscribe(connection, flight_channel("f1"))
    connection.start()
    for event_id in ("e1", "e2", "e1", "e2", "e3", "e4", "e5", "e1"):
        await hub.handle_event(status_event(event_id))
    for _ in range(5):
        await asyncio.sleep(0)
    ids = [text.split('"event_id":"')[1].split('"')[0] for text in socket.sent]
    # e1 is pushed again only after it fell out of the (here tiny) memory of recent ids.
    assert ids == ["e1", "e2", "e3", "e4", "e5", "e1"]
    await connection.stop()
