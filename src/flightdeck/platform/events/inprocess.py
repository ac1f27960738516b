"""The in-process event bus: the embedded default, one process, no broker.

Each subscription group gets a few lanes (queues with one worker each); an event goes to the
lane its aggregate id hashes to, so one aggregate's events are handled in publish order while
different aggregates proceed side by side — the same guarantees as Kafka partitions.
In one process broadcast and competing groups behave alike: each group sees every event once.
"""

from __future__ import annotations

import asyncio
import logging
import zlib
from collections.abc import Collection
from contextlib import suppress

from flightdeck.platform.events.bus import (
    BusUnavailable,
    Event,
    EventHandler,
    HandlerGroup,
    group_key,
)

log = logging.getLogger(__name__)

DEFAULT_LANES = 4
STOP_DRAIN_SECONDS = 5.0


class InProcessBus:
    def __init__(self, *, lanes: int = DEFAULT_LANES) -> None:
        self._lanes = lanes
        self._groups: dict[str, HandlerGroup] = {}
        self._queues: dict[str, list[asyncio.Queue[Event]]] = {}
        self._workers: list[asyncio.Task[None]] = []
        self._running = False

    def subscribe(
        self,
        handler: EventHandler,
        *,
        group: str | None = None,
        event_types: Collection[str] | None = None,
    ) -> None:
        if self._running:
            raise RuntimeError("subscribe() must be called before start()")
        key = group_key(group)
        self._groups.setdefault(key, HandlerGroup(group)).add(handler, event_types)

    async def start(self) -> None:
        if self._running:
            return
        for key, group in self._groups.items():
            queues: list[asyncio.Queue[Event]] = [asyncio.Queue() for _ in range(self._lanes)]
            self._queues[key] = queues
            for lane, queue in enumerate(queues):
                name = f"bus-{group.name or 'broadcast'}-{lane}"
                self._workers.append(asyncio.create_task(_work(group, queue), name=name))
        self._running = True

    async def publish(self, event: Event) -> None:
        if not self._running:
            raise BusUnavailable("the in-process bus is not running")
        lane = zlib.crc32(event.aggregate_id.encode()) % self._lanes
        for key, group in self._groups.items():
            if group.wants(event):
                self._queues[key][lane].put_nowait(event)

    async def drain(self) -> None:
        """Waits until every published event has been handled (tests, clean shutdown)."""
        for queues in self._queues.values():
            for queue in queues:
                await queue.join()

    async def stop(self) -> None:
        """Stops taking events, lets queued ones finish (bounded), then ends the workers."""
        if not self._running:
            return
        self._running = False
        try:
            await asyncio.wait_for(self.drain(), STOP_DRAIN_SECONDS)
        except TimeoutError:
            log.warning("in-process bus stopped with events still queued")
        for worker in self._workers:
            worker.cancel()
        for worker in self._workers:
            with suppress(asyncio.CancelledError):
                await worker
        self._workers.clear()
        self._queues.clear()


async def _work(group: HandlerGroup, queue: asyncio.Queue[Event]) -> None:
    while True:
        event = await queue.get()
        try:
            await group.dispatch(event)
        finally:
            queue.task_done()
