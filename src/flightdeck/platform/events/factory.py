"""`create_bus`: the event bus the settings name (apart from the buses, which it imports)."""

from __future__ import annotations

from flightdeck.platform.events.bus import EventBus
from flightdeck.platform.events.inprocess import InProcessBus
from flightdeck.platform.events.kafka import KafkaBus
from flightdeck.platform.settings import Settings


def create_bus(settings: Settings) -> EventBus:
    """The Kafka bus when `kafka_bootstrap_servers` is set, else the in-process bus."""
    if settings.kafka_bootstrap_servers:
        return KafkaBus(
            settings.kafka_bootstrap_servers,
            topic_prefix=settings.kafka_topic_prefix,
            request_timeout_ms=settings.kafka_request_timeout_ms,
            session_timeout_ms=settings.kafka_session_timeout_ms,
            heartbeat_interval_ms=settings.kafka_heartbeat_interval_ms,
            fetch_max_wait_ms=settings.kafka_fetch_max_wait_ms,
            topic_partitions=settings.kafka_topic_partitions,
            replication_factor=settings.kafka_replication_factor,
        )
    return InProcessBus()
