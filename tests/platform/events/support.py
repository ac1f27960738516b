"""Helpers for the event tests: events, a recording handler, a Kafka bus with test timeouts."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from flightdeck.platform.events.bus import Event
from flightdeck.platform.events.kafka import KafkaBus

# Tansu holds a JoinGroup for about session_timeout/2: keep the group timeouts short.
KAFKA_TEST_OPTIONS: dict[str, Any] = {
    "request_timeout_ms": 1000,
    "session_timeout_ms": 2000,
    "heartbeat_interval_ms": 500,
}


def make_event(
    aggregate_id: str = "flight-1", n: int = 0, event_type: str = "flight.status_changed"
) -> Event:
    return Event(
        id=str(uuid.uuid4()),
        type=event_type,
        aggregate_type=event_type.split(".", 1)[0],
        aggregate_id=aggregate_id,
        payload={"n": n},
        occurred_at=datetime.now(UTC),
    )


def kafka_bus(bootstrap_servers: str, prefix: str) -> KafkaBus:
    return KafkaBus(bootstrap_servers, topic_prefix=prefix, **KAFKA_TEST_OPTIONS)


def unique_prefix() -> str:
    """Topics of their own for each test: the broker is shared by the session."""
    return f"t{uuid.uuid4().hex[:10]}"


class Recorder:
    """A bus handler that remembers what it was given."""

    def __init__(self, delay: Callable[[Event], float] | None = None) -> None:
        self.events: list[Event] = []
        self._delay = delay

    async def __call__(self, event: Event) -> None:
        if self._delay is not None:
            await asyncio.sleep(self._delay(event))
        self.events.append(event)

    @property
    def ids(self) -> list[str]:
        return [event.id for event in self.events]

    def numbers(self, aggregate_id: str) -> list[int]:
        return [e.payload["n"] for e in self.events if e.aggregate_id == aggregate_id]

    async def wait_for(self, count: int, within: float = 10.0) -> None:
        await eventually(lambda: len(self.events) >= count, within)


async def eventually(condition: Callable[[], bool], within: float = 10.0) -> float:
    """Waits until `condition()` holds; returns the seconds it took; fails after `within` s."""
    started = time.perf_counter()
    while not condition():
        if time.perf_counter() - started > within:
            raise AssertionError(f"condition not met within {within}s")
        await asyncio.sleep(0.01)
    return time.perf_counter() - started
