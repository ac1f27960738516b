"""The per-process WebSocket hub: the sockets connected to this process, who they belong to
and which channels (`flight:<id>`) they follow, and the fan-out of bus events to them.

Every process subscribes its hub to the bus in broadcast mode, so an event committed on any
instance reaches the sockets on this one. Each socket has a bounded queue drained by its own
sender task: fan-out never awaits a client, and a client too slow to keep up (queue full) is
disconnected rather than allowed to hold up the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import OrderedDict, defaultdict
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from starlette.websockets import WebSocket, WebSocketState

from flightdeck.platform.clock import utcnow
from flightdeck.platform.events.bus import Event

log = logging.getLogger(__name__)

SEND_QUEUE_SIZE = 256
MAX_CHANNELS_PER_SOCKET = 200
CLOSE_TIMEOUT_SECONDS = 2.0
# Delivery is at least once (a relay retry, a consumer rewind): the hub remembers the ids of
# the latest events it pushed and drops a repeat, so a socket sees each event once.
RECENT_EVENT_IDS = 10_000

# WebSocket close codes (4000-4999 are the application's own).
CLOSE_GOING_AWAY = 1001
CLOSE_TRY_AGAIN_LATER = 1013  # the client fell too far behind
CLOSE_UNAUTHORIZED = 4401  # missing, bad or expired access token

FLIGHT_STATUS_CHANGED = "flight.status_changed"
NOTIFICATION_CREATED = "notification.created"
# Booking and payment events go to the socket of the booking's user.
USER_EVENT_FAMILIES = frozenset({"booking", "payment"})
# A new booking starts following its flights on the user's open sockets.
FOLLOW_FLIGHTS_ON = frozenset({"booking.created", "booking.confirmed"})
PING = json.dumps({"type": "ping"})


def flight_channel(flight_id: str) -> str:
    return f"flight:{flight_id}"


def encode(message: dict[str, Any]) -> str:
    return json.dumps(message, separators=(",", ":"), default=str)


class Connection:
    """One open socket of a signed-in user."""

    def __init__(
        self,
        websocket: WebSocket,
        user_id: str,
        expires_at: datetime,
        *,
        queue_size: int = SEND_QUEUE_SIZE,
    ) -> None:
        self.websocket = websocket
        self.user_id = user_id
        self.expires_at = expires_at
        self.channels: set[str] = set()
        self.queue: asyncio.Queue[str] = asyncio.Queue(maxsize=queue_size)
        self.close_code: int | None = None
        self.close_reason = ""
        self._sender: asyncio.Task[None] | None = None
        self._sending = False
        self._closer: asyncio.Task[None] | None = None

    @property
    def closing(self) -> bool:
        return self.close_code is not None

    def start(self) -> None:
        self._sender = asyncio.create_task(self._send_loop(), name=f"ws-send-{self.user_id}")

    def offer(self, text: str) -> bool:
        """Queues a message without waiting; False (and the socket is closed) when full."""
        if self.closing:
            return False
        try:
            self.queue.put_nowait(text)
        except asyncio.QueueFull:
            log.warning("websocket of user %s fell behind; disconnecting it", self.user_id)
            self.close(CLOSE_TRY_AGAIN_LATER, "too slow: messages were piling up")
            return False
        return True

    def close(self, code: int, reason: str = "") -> None:
        """Ends the socket with `code`: the sender stops and closes it (no wait here)."""
        if self.closing:
            return
        self.close_code, self.close_reason = code, reason
        if self._sender is not None and self._sending:
            self._sender.cancel()  # its loop closes the socket
            return
        if self._sender is not None:
            self._sender.cancel()  # not started yet: it would never reach its own close
        self._closer = asyncio.create_task(self._close_socket(), name="ws-close")

    async def _send_loop(self) -> None:
        self._sending = True
        try:
            while True:
                text = await self.queue.get()
                await self.websocket.send_text(text)
        except asyncio.CancelledError:
            pass
        except Exception as exc:  # the client went away mid-send
            log.debug("websocket send to user %s failed: %r", self.user_id, exc)
            self.close_code = self.close_code or CLOSE_GOING_AWAY
            return
        if self.close_code is not None:
            await self._close_socket()

    async def _close_socket(self) -> None:
        if self.websocket.application_state != WebSocketState.CONNECTED:
            return
        with contextlib.suppress(Exception):
            await asyncio.wait_for(
                self.websocket.close(self.close_code or CLOSE_GOING_AWAY, self.close_reason),
                CLOSE_TIMEOUT_SECONDS,
            )

    async def stop(self) -> None:
        """Stops the sender task (the socket has ended)."""
        if self._sender is not None:
            self._sender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sender


class WebSocketHub:
    name = "ws-hub"  # as a worker of the server (see notifications/module.py)

    def __init__(self, *, heartbeat_seconds: float) -> None:
        self.heartbeat_seconds = heartbeat_seconds
        self._by_user: dict[str, set[Connection]] = defaultdict(set)
        self._by_channel: dict[str, set[Connection]] = defaultdict(set)
        self._heartbeat: asyncio.Task[None] | None = None
        self._recent: OrderedDict[str, None] = OrderedDict()

    # --- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        """Starts the heartbeat (pings, and closes sockets whose token expired)."""
        if self._heartbeat is None:
            self._heartbeat = asyncio.create_task(self._heartbeat_loop(), name=self.name)

    async def stop(self) -> None:
        """Stops the heartbeat and closes every socket (going away)."""
        if self._heartbeat is not None:
            self._heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._heartbeat
            self._heartbeat = None
        for connection in self.connections():
            connection.close(CLOSE_GOING_AWAY, "server shutting down")

    async def _heartbeat_loop(self) -> None:
        while True:
            await asyncio.sleep(self.heartbeat_seconds)
            self.beat()

    def beat(self) -> None:
        """One heartbeat: closes sockets whose access token has expired (4401), pings the rest."""
        now = utcnow()
        for connection in self.connections():
            if connection.expires_at <= now:
                connection.close(CLOSE_UNAUTHORIZED, "access token expired")
            else:
                connection.offer(PING)

    # --- sockets and channels --------------------------------------------------------------

    def connections(self) -> list[Connection]:
        return [c for connections in self._by_user.values() for c in connections]

    def __len__(self) -> int:
        return sum(len(connections) for connections in self._by_user.values())

    def add(self, connection: Connection) -> None:
        self._by_user[connection.user_id].add(connection)

    def remove(self, connection: Connection) -> None:
        for channel in list(connection.channels):
            self.unsubscribe(connection, channel)
        self._discard(self._by_user, connection.user_id, connection)

    def subscribe(self, connection: Connection, channel: str) -> bool:
        """Follows a channel; False when the socket already follows too many."""
        if channel in connection.channels:
            return True
        if len(connection.channels) >= MAX_CHANNELS_PER_SOCKET:
            return False
        connection.channels.add(channel)
        self._by_channel[channel].add(connection)
        return True

    def unsubscribe(self, connection: Connection, channel: str) -> None:
        connection.channels.discard(channel)
        self._discard(self._by_channel, channel, connection)

    @staticmethod
    def _discard(index: dict[str, set[Connection]], key: str, connection: Connection) -> None:
        members = index.get(key)
        if members is not None:
            members.discard(connection)
            if not members:
                del index[key]

    # --- fan-out ---------------------------------------------------------------------------

    def send_to_user(self, user_id: str, text: str) -> int:
        return self._offer_all(self._by_user.get(user_id, ()), text)

    def send_to_channel(self, channel: str, text: str) -> int:
        return self._offer_all(self._by_channel.get(channel, ()), text)

    @staticmethod
    def _offer_all(connections: Iterable[Connection], text: str) -> int:
        # A copy: a full queue closes (and later removes) a socket while we iterate.
        return sum(connection.offer(text) for connection in list(connections))

    async def handle_event(self, event: Event) -> None:
        """The bus handler (broadcast): pushes the event to the sockets it concerns, once
        (a redelivered event id is dropped)."""
        if event.id in self._recent:
            return
        self._recent[event.id] = None
        if len(self._recent) > RECENT_EVENT_IDS:
            self._recent.popitem(last=False)
        try:
            self.dispatch(event)
        except Exception:  # one malformed event must not stop the feed
            log.exception("websocket hub could not push event %s (%s)", event.id, event.type)

    def dispatch(self, event: Event) -> None:
        payload = event.payload
        if event.type == FLIGHT_STATUS_CHANGED:
            message = flight_status_message(event)
            self.send_to_channel(flight_channel(str(payload["flight_id"])), encode(message))
        elif event.type == NOTIFICATION_CREATED:
            for recipient in payload.get("recipients", ()):
                user_id = str(recipient["user_id"])
                if user_id in self._by_user:
                    self.send_to_user(user_id, encode(notification_message(event, recipient)))
        elif event.family in USER_EVENT_FAMILIES and payload.get("user_id"):
            user_id = str(payload["user_id"])
            if event.type in FOLLOW_FLIGHTS_ON:
                for connection in list(self._by_user.get(user_id, ())):
                    for flight_id in payload.get("flight_ids", ()):
                        self.subscribe(connection, flight_channel(str(flight_id)))
            self.send_to_user(user_id, encode(user_event_message(event)))


def flight_status_message(event: Event) -> dict[str, Any]:
    """`{"type": "flight.status", "flight_id", "flight_number", "status", ..., "event_id"}`:
    the event's flight fields (instants in local offset) without its internal bookkeeping."""
    hidden = {"changed", "source", "reason"}
    fields = {k: v for k, v in event.payload.items() if k not in hidden}
    changed = event.payload.get("changed") or {}
    return {
        "type": "flight.status",
        **fields,
        "changed_fields": sorted(changed),
        "occurred_at": event.occurred_at.isoformat(),
        "event_id": event.id,
    }


def notification_message(event: Event, recipient: dict[str, Any]) -> dict[str, Any]:
    payload = event.payload
    return {
        "type": "notification",
        "notification": {
            "id": recipient["notification_id"],
            "title": payload["title"],
            "message": payload["message"],
            "kind": payload["kind"],
            "data": payload.get("data") or {},
            "created_at": payload["created_at"],
            "read_at": None,
        },
        "event_id": event.id,
    }


def user_event_message(event: Event) -> dict[str, Any]:
    """`{"type": "booking.confirmed", "booking_id", "pnr", ..., "event_id"}`."""
    return {
        "type": event.type,
        **event.payload,
        "occurred_at": event.occurred_at.isoformat(),
        "event_id": event.id,
    }
