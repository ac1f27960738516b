"""The Kafka bus against a real Kafka-protocol broker (Tansu, started for the session)."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from typing import Any

import pytest
from aiokafka.errors import KafkaTimeoutError
from tests.servers.kafka import KafkaBroker

from flightdeck.platform.events.bus import BusUnavailable, Event
from flightdeck.platform.events.factory import create_bus
from flightdeck.platform.events.kafka import KafkaBus
from flightdeck.platform.settings import Settings

from .support import Recorder, eventually, kafka_bus, make_event, unique_prefix

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_create_bus_is_kafka_when_servers_are_set() -> None:
    bus = create_bus(Settings(kafka_bootstrap_servers="127.0.0.1:9", kafka_topic_prefix="x"))
    assert isinstance(bus, KafkaBus)
    assert bus.topic_for("flight") == "x.flight"


async def test_published_event_round_trips_through_kafka(broker: KafkaBroker) -> None:
    bus = kafka_bus(broker.bootstrap_servers, unique_prefix())
    recorder = Recorder()
    bus.subscribe(recorder, group="notifications")
    await bus.start()
    try:
        event = make_event("flight-42", 1)
        started = time.perf_counter()
        await bus.publish(event)
        publish_seconds = time.perf_counter() - started
        await recorder.wait_for(1)
    finally:
        await bus.stop()
    assert recorder.events == [event]
    print(f"kafka publish (acks=all) took {publish_seconds * 1000:.1f} ms")


async def test_one_aggregates_events_arrive_in_order(broker: KafkaBroker) -> None:
    bus = kafka_bus(broker.bootstrap_servers, unique_prefix())
    recorder = Recorder()
    bus.subscribe(recorder, group="g")
    await bus.start()
    try:
        events = [make_event(f"f{a}", n) for n in range(25) for a in range(4)]
        results = await bus.publish_many(events)
        assert results == [None] * len(events)
        await recorder.wait_for(len(events))
    finally:
        await bus.stop()
    for a in range(4):
        assert recorder.numbers(f"f{a}") == list(range(25))


async def test_after_an_event_fails_the_later_events_of_its_aggregate_wait_for_it(
    broker: KafkaBroker,
) -> None:
    # The broker loses one ack (what a broker coming back from an outage did): that event is
    # sent again later, so the events after it on the same flight must not go first.
    bus = kafka_bus(broker.bootstrap_servers, unique_prefix())
    recorder = Recorder()
    bus.subscribe(recorder, group="g")
    await bus.start()
    producer: Any = bus._producer
    real_send = producer.send

    async def send_losing_one_ack(topic: str, value: bytes, key: bytes, **options: Any) -> Any:
        if key == b"f0" and json.loads(value)["payload"]["n"] == 2:
            lost: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
            lost.set_exception(KafkaTimeoutError())
            return lost
        return await real_send(topic, value, key=key, **options)

    try:
        events = [make_event(f"f{a}", n) for n in range(5) for a in range(3)]
        producer.send = send_losing_one_ack
        results = await bus.publish_many(events)
        producer.send = real_send
        failed = [e for e, result in zip(events, results, strict=True) if result is not None]
        await recorder.wait_for(len(events) - len(failed))
        first_pass = recorder.numbers("f0")
        sent_again = await bus.publish_many(failed)  # as the relay does, in the outbox's order
        await recorder.wait_for(len(events))
    finally:
        await bus.stop()

    assert first_pass == [0, 1]
    assert {(e.aggregate_id, e.payload["n"]) for e in failed} >= {("f0", n) for n in (2, 3, 4)}
    assert all(isinstance(result, BusUnavailable) for result in results if result is not None)
    assert sent_again == [None] * len(failed)
    assert [recorder.numbers(f"f{a}") for a in range(3)] == [[0, 1, 2, 3, 4]] * 3


async def test_broadcast_reaches_every_process(broker: KafkaBroker) -> None:
    prefix = unique_prefix()
    first, second = Recorder(), Recorder()
    bus_a, bus_b = (
        kafka_bus(broker.bootstrap_servers, prefix),
        kafka_bus(broker.bootstrap_servers, prefix),
    )
    bus_a.subscribe(first)
    bus_b.subscribe(second)
    await asyncio.gather(bus_a.start(), bus_b.start())
    try:
        event = make_event("flight-7", 1)
        await bus_a.publish(event)  # published by one process, seen by both
        await first.wait_for(1)
        await second.wait_for(1)
    finally:
        await asyncio.gather(bus_a.stop(), bus_b.stop())
    assert first.events == [event]
    assert second.events == [event]


async def test_competing_consumers_share_the_events_of_a_group(broker: KafkaBroker) -> None:
    prefix = unique_prefix()
    first, second = Recorder(), Recorder()
    bus_a, bus_b = (
        kafka_bus(broker.bootstrap_servers, prefix),
        kafka_bus(broker.bootstrap_servers, prefix),
    )
    bus_a.subscribe(first, group="notifications")
    bus_b.subscribe(second, group="notifications")
    await asyncio.gather(bus_a.start(), bus_b.start())
    try:
        # Publish once the group has settled: both members, every partition assigned.
        topic_partitions = {(f"{prefix}.{f}", p) for f in ("flight",) for p in range(4)}

        def settled() -> bool:
            a, b = (
                bus_a.assigned_partitions("notifications"),
                bus_b.assigned_partitions("notifications"),
            )
            return bool(a) and bool(b) and not a & b and topic_partitions <= a | b

        await eventually(settled, within=15)
        events = [make_event(f"flight-{i}", i) for i in range(40)]
        assert await bus_a.publish_many(events) == [None] * len(events)
        await eventually(lambda: len(first.events) + len(second.events) >= len(events))
        await asyncio.sleep(0.3)  # nothing more arrives
    finally:
        await asyncio.gather(bus_a.stop(), bus_b.stop())
    handled = first.ids + second.ids
    assert sorted(handled) == sorted(e.id for e in events)  # each event exactly once
    assert first.events and second.events  # and both members took a share


async def test_a_failing_handler_does_not_stop_the_consumer(broker: KafkaBroker) -> None:
    bus = kafka_bus(broker.bootstrap_servers, unique_prefix())
    handled: list[int] = []

    async def fails_on_first(event: Event) -> None:
        if event.payload["n"] == 0:
            raise RuntimeError("boom")
        handled.append(event.payload["n"])

    bus.subscribe(fails_on_first, group="g")
    await bus.start()
    try:
        await bus.publish(make_event("f1", 0))
        await bus.publish(make_event("f1", 1))
        await eventually(lambda: handled == [1])
    finally:
        await bus.stop()
    assert handled == [1]


async def test_unreachable_broker_makes_publish_raise_unavailable() -> None:
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    bus = KafkaBus(f"127.0.0.1:{port}", topic_prefix=unique_prefix(), request_timeout_ms=500)
    bus.subscribe(Recorder())
    started = time.perf_counter()
    await bus.start()  # does not hang: keeps connecting in the background
    assert time.perf_counter() - started < 3
    with pytest.raises(BusUnavailable):
        await bus.publish(make_event())
    await bus.stop()
