"""The in-process bus (the embedded default) and the event wire format."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest

from flightdeck.platform.events.bus import BusUnavailable, Event
from flightdeck.platform.events.factory import create_bus
from flightdeck.platform.events.inprocess import InProcessBus
from flightdeck.platform.settings import Settings

from .support import Recorder, make_event

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_event_survives_the_json_round_trip() -> None:
    event = Event(
        id="e1",
        type="booking.created",
        aggregate_type="booking",
        aggregate_id="b1",
        payload={"pnr": "ABC123", "seats": [1, 2], "total": {"amount": 1000}},
        occurred_at=datetime(2026, 3, 29, 1, 30, tzinfo=UTC),
        actor_id="u1",
    )
    decoded = Event.from_json(event.to_json())
    assert decoded == event
    assert decoded.occurred_at.tzinfo is not None
    assert decoded.family == "booking"


async def test_create_bus_is_in_process_without_kafka_servers() -> None:
    assert isinstance(create_bus(Settings(kafka_bootstrap_servers="")), InProcessBus)


async def test_published_event_reaches_every_subscribed_group() -> None:
    bus = InProcessBus()
    broadcast, notifications = Recorder(), Recorder()
    bus.subscribe(broadcast)
    bus.subscribe(notifications, group="notifications")
    await bus.start()
    event = make_event()
    await bus.publish(event)
    await bus.drain()
    await bus.stop()
    assert broadcast.events == [event]
    assert notifications.events == [event]


async def test_one_aggregates_events_are_handled_in_publish_order() -> None:
    bus = InProcessBus()
    rng = random.Random(7)
    recorder = Recorder(delay=lambda _: rng.random() / 500)  # handlers of uneven speed
    bus.subscribe(recorder, group="g")
    await bus.start()
    for n in range(30):
        for aggregate in ("f1", "f2", "f3"):
            await bus.publish(make_event(aggregate, n))
    await bus.drain()
    await bus.stop()
    for aggregate in ("f1", "f2", "f3"):
        assert recorder.numbers(aggregate) == list(range(30))


async def test_handlers_only_get_the_types_they_asked_for() -> None:
    bus = InProcessBus()
    bookings = Recorder()
    bus.subscribe(bookings, group="g", event_types={"booking.created"})
    await bus.start()
    await bus.publish(make_event("f1", 0, "flight.status_changed"))
    await bus.publish(make_event("b1", 1, "booking.created"))
    await bus.drain()
    await bus.stop()
    assert [e.type for e in bookings.events] == ["booking.created"]


async def test_a_failing_handler_is_retried_and_does_not_stop_later_events() -> None:
    bus = InProcessBus()
    calls: list[int] = []

    async def flaky(event: Event) -> None:
        calls.append(event.payload["n"])
        if event.payload["n"] == 0:
            raise RuntimeError("boom")

    bus.subscribe(flaky, group="g")
    await bus.start()
    await bus.publish(make_event("f1", 0))
    await bus.publish(make_event("f1", 1))
    await bus.drain()
    await bus.stop()
    assert calls == [0, 0, 0, 1]  # three attempts at the failing event, then the next one


async def test_publish_on_a_bus_that_is_not_running_raises_unavailable() -> None:
    bus = InProcessBus()
    with pytest.raises(BusUnavailable):
        await bus.publish(make_event())
    await bus.start()
    await bus.stop()
    with pytest.raises(BusUnavailable):
        await bus.publish(make_event())


async def test_subscribing_after_start_is_refused() -> None:
    bus = InProcessBus()
    await bus.start()
    with pytest.raises(RuntimeError):
        bus.subscribe(Recorder())
    await bus.stop()
