"""The event bus interface: publish domain events, subscribe handlers (broadcast or competing).

Delivery is at least once. Every handler must be idempotent by ``Event.id`` (see
``consumers.handle_once``). Events of one aggregate are delivered in publish order.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Collection
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from prometheus_client import Counter

if TYPE_CHECKING:
    pass

# The topics a handler with event_types=None listens to. An event of another family still
# gets a topic of its own, but reaches only handlers that name its type.
FAMILIES = ("flight", "booking", "payment", "schedule", "notification", "user")


HANDLER_FAILURES = Counter(
    "flightdeck_event_handler_failures_total",
    "Events a handler still failed on after its retries",
    ["group"],
)


class BusUnavailable(Exception):
    """The bus cannot take the event now (broker down, not started); retry later."""


@dataclass(frozen=True)
class Event:
    id: str  # the outbox row id: consumers dedupe on it
    type: str  # "flight.status_changed", "booking.created", ...
    aggregate_type: str
    aggregate_id: str
    payload: dict[str, Any] = field(hash=False)
    occurred_at: datetime  # UTC
    actor_id: str | None = None

    @property
    def family(self) -> str:
        """The part of the type before the first dot: it picks the topic."""
        return self.type.split(".", 1)[0]

    def to_json(self) -> bytes:
        data = asdict(self)
        data["occurred_at"] = self.occurred_at.astimezone(UTC).isoformat()
        return json.dumps(data, separators=(",", ":"), default=str).encode()

    @classmethod
    def from_json(cls, raw: bytes) -> Event:
        data = json.loads(raw)
        occurred_at = datetime.fromisoformat(data["occurred_at"])
        if occurred_at.tzinfo is None:
            occurred_at = occurred_at.replace(tzinfo=UTC)
        return cls(
            id=str(data["id"]),
            type=str(data["type"]),
            aggregate_type=str(data["aggregate_type"]),
            aggregate_id=str(data["aggregate_id"]),
            payload=dict(data.get("payload") or {}),
            occurred_at=occurred_at.astimezone(UTC),
            actor_id=data.get("actor_id"),
        )


EventHandler = Callable[[Event], Awaitable[None]]


class EventBus(Protocol):
    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def publish(self, event: Event) -> None:
        """Hand the event to the bus; raises BusUnavailable when it cannot."""
        ...

    def subscribe(
        self,
        handler: EventHandler,
        *,
        group: str | None = None,
        event_types: Collection[str] | None = None,
    ) -> None:
        """Register a handler; must be called before start().

        group=None: BROADCAST, every process gets every event (WebSocket hubs).
        group="notifications": COMPETING, one process of the group handles each event.
        event_types: only these types reach the handler (None: all).
        """
        ...


# --- shared by the implementations -------------------------------------------------------

log = logging.getLogger(__name__)

HANDLER_ATTEMPTS = 3  # a failing handler is retried this many times in all, then skipped
HANDLER_RETRY_SECONDS = 0.05


@dataclass(frozen=True)
class Subscription:
    handler: EventHandler
    event_types: frozenset[str] | None  # None: every type

    def wants(self, event: Event) -> bool:
        return self.event_types is None or event.type in self.event_types

    @property
    def families(self) -> frozenset[str] | None:
        if self.event_types is None:
            return None
        return frozenset(t.split(".", 1)[0] for t in self.event_types)


@dataclass
class HandlerGroup:
    """The handlers one consumer (one group, in one process) runs for each event, in order."""

    name: str | None  # None: broadcast
    subscriptions: list[Subscription] = field(default_factory=list)

    def add(self, handler: EventHandler, event_types: Collection[str] | None) -> None:
        types = frozenset(event_types) if event_types is not None else None
        self.subscriptions.append(Subscription(handler, types))

    def wants(self, event: Event) -> bool:
        return any(sub.wants(event) for sub in self.subscriptions)

    def families(self) -> frozenset[str]:
        """The event families (topics) any handler of the group needs."""
        wanted: set[str] = set()
        for sub in self.subscriptions:
            if sub.families is None:
                return frozenset(FAMILIES)
            wanted |= sub.families
        return frozenset(wanted)

    async def dispatch(self, event: Event) -> None:
        """Runs every interested handler; a handler's failure is retried, then logged."""
        for sub in self.subscriptions:
            if sub.wants(event):
                await _run_handler(sub.handler, event, self.name)


async def _run_handler(handler: EventHandler, event: Event, group: str | None) -> None:
    for attempt in range(1, HANDLER_ATTEMPTS + 1):
        try:
            await handler(event)
            return
        except asyncio.CancelledError:
            raise
        except Exception:
            if attempt == HANDLER_ATTEMPTS:
                log.exception(
                    "handler %s (group %s) failed on event %s (%s); skipped",
                    getattr(handler, "__qualname__", handler),
                    group or "broadcast",
                    event.id,
                    event.type,
                )
                HANDLER_FAILURES.labels(group or "broadcast").inc()
                return
            await asyncio.sleep(HANDLER_RETRY_SECONDS * attempt)


def group_key(group: str | None) -> str:
    return group if group is not None else ""
