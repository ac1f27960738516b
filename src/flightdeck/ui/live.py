"""One WebSocket listener per session: the signed-in user's live feed from `WS /ws`.

It reconnects with backoff, gets a new access token when the server closes the socket for an
expired one (4401), follows the flights the screens ask for, and hands every message to one
callback. The token travels as `Sec-WebSocket-Protocol: bearer, <token>`, never in the URL.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, WebSocketException
from websockets.typing import Subprotocol

from flightdeck.ui.api import ApiClient

log = logging.getLogger(__name__)

CLOSE_UNAUTHORIZED = 4401
FIRST_RETRY_SECONDS = 0.5
LAST_RETRY_SECONDS = 15.0
Message = dict[str, Any]
MessageHandler = Callable[[Message], Awaitable[None]]


class TokenRefused(Exception):
    """The server closed the socket for the access token (expired or revoked)."""


class LiveFeed:
    def __init__(self, api: ApiClient, on_message: MessageHandler) -> None:
        self._api = api
        self._on_message = on_message
        self._followed: set[str] = set()
        self._socket: ClientConnection | None = None
        self._task: asyncio.Task[None] | None = None
        self.connected = asyncio.Event()

    def start(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="flightdeck-ui-live-feed")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self.connected.clear()

    async def follow(self, flight_id: str) -> None:
        """Pushes for this flight from now on (also after a reconnect)."""
        if flight_id in self._followed:
            return
        self._followed.add(flight_id)
        if self._socket is not None:
            with contextlib.suppress(ConnectionClosed):
                await self._socket.send(json.dumps({"subscribe": f"flight:{flight_id}"}))

    async def _run(self) -> None:
        delay = FIRST_RETRY_SECONDS
        while self._api.access_token:
            try:
                await self._listen()
                delay = FIRST_RETRY_SECONDS
            except TokenRefused:
                if not await self._api.refresh():
                    return  # signed out: nothing to listen to
                continue
            except (OSError, WebSocketException, TimeoutError) as exc:
                log.info("live feed lost (%s); reconnecting in %.1fs", exc, delay)
            finally:
                self._socket = None
                self.connected.clear()
            await asyncio.sleep(delay)
            delay = min(delay * 2, LAST_RETRY_SECONDS)

    async def _listen(self) -> None:
        token = self._api.access_token or ""
        headers = {"X-Forwarded-For": self._api.forwarded_for} if self._api.forwarded_for else {}
        async with connect(
            self._api.websocket_url,
            subprotocols=[Subprotocol("bearer"), Subprotocol(token)],
            additional_headers=headers,
            proxy=None,
            open_timeout=10,
        ) as socket:
            self._socket = socket
            for flight_id in sorted(self._followed):
                await socket.send(json.dumps({"subscribe": f"flight:{flight_id}"}))
            self.connected.set()
            try:
                async for raw in socket:
                    await self._dispatch(raw)
            except ConnectionClosed as exc:
                if exc.rcvd is not None and exc.rcvd.code == CLOSE_UNAUTHORIZED:
                    raise TokenRefused from exc
                raise

    async def _dispatch(self, raw: str | bytes) -> None:
        try:
            message = json.loads(raw)
        except ValueError:
            return
        if isinstance(message, dict) and message.get("type") != "ping":
            try:
                await self._on_message(message)
            except Exception:  # a screen's bug must not end the feed
                log.exception("live feed handler failed on %s", message.get("type"))
