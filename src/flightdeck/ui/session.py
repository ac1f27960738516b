"""What one browser (or phone) session knows: the API client, who is signed in, the live feed,
the unread count and the trip being booked. Nothing here is shared between sessions."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from flightdeck.ui.api import ApiClient
from flightdeck.ui.live import LiveFeed, Message

log = logging.getLogger(__name__)

Listener = Callable[[Message], Awaitable[None]]
STAFF_ROLES = {"agent", "admin"}


@dataclass
class Trip:
    """The booking in progress: the itinerary picked, then the booking made from it."""

    itinerary: dict[str, Any]
    cabin: str
    passengers: int
    booking: dict[str, Any] | None = None


@dataclass
class SessionState:
    api: ApiClient
    user: dict[str, Any] | None = None
    unread: int = 0
    trip: Trip | None = None
    last_search: dict[str, str] = field(default_factory=dict)
    live: LiveFeed | None = None
    _listeners: list[Listener] = field(default_factory=list)

    @property
    def role(self) -> str:
        return str((self.user or {}).get("role", ""))

    @property
    def is_staff(self) -> bool:
        return self.role in STAFF_ROLES

    def listen(self, listener: Listener) -> Callable[[], None]:
        """Live messages to `listener` until the returned function is called."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    async def publish(self, message: Message) -> None:
        for listener in list(self._listeners):
            try:
                await listener(message)
            except Exception:  # one screen's failure must not starve the others
                log.exception("live listener failed on %s", message.get("type"))

    def start_live_feed(self) -> None:
        if self.live is None:
            self.live = LiveFeed(self.api, self.publish)
        self.live.start()

    async def stop_live_feed(self) -> None:
        if self.live is not None:
            await self.live.stop()

    async def follow_flight(self, flight_id: str) -> None:
        if self.live is not None:
            await self.live.follow(flight_id)

    async def sign_out(self) -> None:
        await self.stop_live_feed()
        self.live = None
        self.api.sign_out()
        self.user, self.trip, self.unread = None, None, 0
