"""A publish that never returns (a client that swallows cancellation) cannot hold the relay."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Collection
from datetime import UTC, datetime

import pytest

from flightdeck.platform.events.bus import BusUnavailable, Event, EventHandler
from flightdeck.platform.events.relay import publish_within

pytestmark = pytest.mark.asyncio(loop_scope="session")


class StuckBus:
    """Its publish ignores cancellation and never finishes, as a wedged client might."""

    def __init__(self) -> None:
        self.release = asyncio.Event()

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    def subscribe(
        self,
        handler: EventHandler,
        *,
        group: str | None = None,
        event_types: Collection[str] | None = None,
    ) -> None: ...

    async def publish(self, event: Event) -> None:
        while not self.release.is_set():
            try:
                await self.release.wait()
            except asyncio.CancelledError:
                continue  # swallows cancellation


def _event(n: int) -> Event:
    return Event(
        id=f"e{n}",
        type="flight.status_changed",
        aggregate_type="flight",
        aggregate_id="f1",
        payload={},
        occurred_at=datetime.now(UTC),
    )


async def test_publish_past_the_deadline_counts_as_unavailable_and_returns() -> None:
    bus = StuckBus()
    started = time.monotonic()
    results = await publish_within(bus, [_event(1), _event(2)], deadline=0.2)
    elapsed = time.monotonic() - started
    bus.release.set()  # let the abandoned task end
    await asyncio.sleep(0)

    assert elapsed < 1.0
    assert len(results) == 2
    assert all(isinstance(result, BusUnavailable) for result in results)
