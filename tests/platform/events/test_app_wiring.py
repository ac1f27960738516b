"""The app's lifespan builds the bus from the settings and runs the relay."""

from __future__ import annotations

import pytest
from asgi_lifespan import LifespanManager
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from tests.servers.kafka import KafkaBroker

from flightdeck.app import create_app
from flightdeck.platform.events.kafka import KafkaBus
from flightdeck.platform.events.outbox import record_event
from flightdeck.platform.settings import Settings

from .support import Recorder, kafka_bus, unique_prefix

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_app_with_kafka_settings_relays_committed_events_to_kafka(
    maker: async_sessionmaker[AsyncSession], settings: Settings, broker: KafkaBroker
) -> None:
    prefix = unique_prefix()
    kafka_settings = settings.model_copy(
        update={
            "kafka_bootstrap_servers": broker.bootstrap_servers,
            "kafka_topic_prefix": prefix,
            "kafka_request_timeout_ms": 1000,
            "kafka_session_timeout_ms": 2000,
            "kafka_heartbeat_interval_ms": 500,
        }
    )
    listener = kafka_bus(broker.bootstrap_servers, prefix)  # another process, in effect
    recorder = Recorder()
    listener.subscribe(recorder, group="listener")
    await listener.start()
    app = create_app(kafka_settings)
    try:
        async with LifespanManager(app):
            assert isinstance(app.state.bus, KafkaBus)
            async with app.state.sessionmaker() as session, session.begin():
                row = await record_event(
                    session,
                    "flight.status_changed",
                    aggregate_type="flight",
                    aggregate_id="flight-9",
                    payload={"status": "delayed"},
                )
            await recorder.wait_for(1)
    finally:
        await listener.stop()
    assert recorder.ids == [row.id]
    assert recorder.events[0].payload == {"status": "delayed"}
