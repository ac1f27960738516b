"""`WS /ws`: a signed-in user's live feed (notifications, their bookings and payments, and the
status of the flights they hold bookings on or follow).

Authentication: the access token in `?token=…`, or (browsers, which cannot set headers) as
`Sec-WebSocket-Protocol: bearer, <token>`; the server then accepts with the `bearer`
subprotocol. A missing, bad or expired token ends the socket with close code 4401.

Client → server: `{"subscribe": "flight:<id>"}`, `{"unsubscribe": "flight:<id>"}`,
`{"type": "ping"}`; replies `{"type": "subscribed" | "unsubscribed" | "pong", ...}`;
anything else gets `{"type": "error", "code", "message"}` and the socket stays open.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from fastapi import APIRouter, WebSocket
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.datastructures import State

from flightdeck.bookings import service as bookings_service
from flightdeck.flights import service as flights_service
from flightdeck.notifications.hub import (
    CLOSE_UNAUTHORIZED,
    Connection,
    WebSocketHub,
    encode,
    flight_channel,
)
from flightdeck.platform.errors import AppError, NotFound
from flightdeck.platform.security.auth import principal_for_token
from flightdeck.platform.security.tokens import AccessClaims, InvalidToken, decode_access_token

log = logging.getLogger(__name__)

router = APIRouter()

BEARER_SUBPROTOCOL = "bearer"
MAX_CHANNEL_LENGTH = 100
MAX_CLIENT_MESSAGE_CHARS = 4096  # client messages are tiny; a huge one is not parsed
FLIGHT_PREFIX = "flight:"


def token_from_handshake(websocket: WebSocket) -> tuple[str | None, str | None]:
    """The access token and the subprotocol to accept with (`bearer` when the token came as
    `Sec-WebSocket-Protocol: bearer, <token>`)."""
    subprotocols = [p.strip() for p in websocket.scope.get("subprotocols") or []]
    if subprotocols and subprotocols[0].lower() == BEARER_SUBPROTOCOL:
        token = subprotocols[1] if len(subprotocols) > 1 else None
        return token, BEARER_SUBPROTOCOL
    return websocket.query_params.get("token"), None


async def _authenticate(state: State, token: str | None) -> tuple[AccessClaims, list[str]]:
    """The token's claims (its user existing, active, the token not revoked) and the flights
    the user holds bookings on."""
    if not token:
        raise InvalidToken("no access token")
    claims = decode_access_token(state.settings, token)
    async with state.sessionmaker() as session:
        await principal_for_token(state, state.settings, token, session)
        flight_ids = await bookings_service.flight_ids_for_user(session, claims.user_id)
    return claims, flight_ids


@router.websocket("/ws")
async def live_feed(websocket: WebSocket) -> None:
    """The signed-in user's live feed (see the module docstring)."""
    state = websocket.app.state
    hub: WebSocketHub = state.hub
    token, subprotocol = token_from_handshake(websocket)
    await websocket.accept(subprotocol=subprotocol)
    try:
        claims, flight_ids = await _authenticate(state, token)
    except (InvalidToken, AppError) as exc:
        reason = "access token expired" if "expired" in str(exc) else "not authenticated"
        await websocket.close(CLOSE_UNAUTHORIZED, reason)
        return
    connection = Connection(websocket, claims.user_id, claims.expires_at)
    for flight_id in flight_ids:
        hub.subscribe(connection, flight_channel(flight_id))
    hub.add(connection)
    connection.offer(
        encode(
            {
                "type": "connected",
                "user_id": claims.user_id,
                "channels": sorted(connection.channels),
                "heartbeat_seconds": hub.heartbeat_seconds,
            }
        )
    )
    connection.start()
    try:
        await _receive_loop(websocket, connection, hub, state.sessionmaker)
    finally:
        hub.remove(connection)
        await connection.stop()


async def _receive_loop(
    websocket: WebSocket,
    connection: Connection,
    hub: WebSocketHub,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            return
        raw = message.get("text")
        if raw is None and message.get("bytes") is not None:
            raw = message["bytes"].decode("utf-8", errors="replace")
        reply = await handle_client_message(raw or "", connection, hub, sessionmaker)
        if reply is not None:
            connection.offer(encode(reply))


def _error(code: str, message: str, **details: Any) -> dict[str, Any]:
    return {"type": "error", "code": code, "message": message, **details}


async def handle_client_message(
    raw: str,
    connection: Connection,
    hub: WebSocketHub,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> dict[str, Any] | None:
    """The reply to one client message (None: no reply)."""
    if len(raw) > MAX_CLIENT_MESSAGE_CHARS:
        return _error(
            "message_too_large", f"Messages are at most {MAX_CLIENT_MESSAGE_CHARS} characters"
        )
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):  # RecursionError: nested too deeply
        return _error("invalid_message", "Messages are JSON objects")
    if not isinstance(data, dict):
        return _error("invalid_message", "Messages are JSON objects")
    if "subscribe" in data:
        return await _subscribe(data["subscribe"], connection, hub, sessionmaker)
    if "unsubscribe" in data:
        channel = data["unsubscribe"]
        if not isinstance(channel, str):
            return _error("invalid_channel", "A channel is a string like flight:<id>")
        hub.unsubscribe(connection, channel)
        return {"type": "unsubscribed", "channel": channel}
    if data.get("type") == "ping":
        return {"type": "pong"}
    if data.get("type") == "pong":
        return None
    return _error(
        "unknown_message",
        'Send {"subscribe": "flight:<id>"}, {"unsubscribe": "flight:<id>"} or {"type": "ping"}',
    )


async def _subscribe(
    channel: Any,
    connection: Connection,
    hub: WebSocketHub,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> dict[str, Any]:
    if (
        not isinstance(channel, str)
        or not channel.startswith(FLIGHT_PREFIX)
        or len(channel) > MAX_CHANNEL_LENGTH
        or len(channel) == len(FLIGHT_PREFIX)
    ):
        return _error("invalid_channel", "A channel is a string like flight:<id>")
    flight_id = channel[len(FLIGHT_PREFIX) :]
    try:
        async with sessionmaker() as session:
            await flights_service.get_flight(session, flight_id)
    except NotFound:
        return _error("flight_not_found", "No such flight", channel=channel)
    if not hub.subscribe(connection, channel):
        return _error("too_many_subscriptions", "This socket follows too many channels")
    return {"type": "subscribed", "channel": channel}
