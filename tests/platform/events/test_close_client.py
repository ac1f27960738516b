"""Closing an aiokafka client must not end the task that closed it.

aiokafka's `stop()` awaits its own background tasks; when one of them was cancelled (its
connection died with the broker), the CancelledError comes out of `stop()`. The consumer
loop that closed the broker-reset guard's client then ended for good: the process stopped
delivering broadcast events (the WebSocket hub) after a broker restart. The clients below
reproduce that behaviour of a library we do not control.
"""

from __future__ import annotations

import asyncio

import pytest

from flightdeck.platform.events.kafka_admin import close_client

pytestmark = pytest.mark.asyncio(loop_scope="session")


class ClientWhoseTaskWasCancelled:
    """Its stop() awaits an internal task that was cancelled, as aiokafka's does."""

    def __init__(self) -> None:
        self.stopped = False

    async def stop(self) -> None:
        internal = asyncio.create_task(asyncio.sleep(3600))
        await asyncio.sleep(0)
        internal.cancel()
        self.stopped = True
        await internal  # raises CancelledError into the caller


class ClientThatFails:
    async def stop(self) -> None:
        raise ConnectionError("unexpected connection_lost() call")


async def test_an_internal_cancellation_does_not_end_the_closing_task() -> None:
    client = ClientWhoseTaskWasCancelled()
    with pytest.raises(asyncio.CancelledError):  # what the unguarded call did
        await client.stop()

    client = ClientWhoseTaskWasCancelled()

    async def consumer_loop() -> str:
        await close_client(client)
        return "still running"

    assert await asyncio.create_task(consumer_loop()) == "still running"
    assert client.stopped


async def test_an_error_while_closing_is_swallowed() -> None:
    await close_client(ClientThatFails())  # no exception


async def test_a_real_cancellation_of_the_closing_task_still_cancels_it() -> None:
    started = asyncio.Event()

    class SlowClient:
        async def stop(self) -> None:
            started.set()
            await asyncio.sleep(3600)

    task = asyncio.create_task(close_client(SlowClient()))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert task.cancelled()
