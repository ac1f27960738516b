"""Domain events: written to the outbox in the producer's transaction, published after commit.

`bus` is the publish/subscribe interface (in-process or Kafka: `factory.create_bus` picks);
`relay` moves committed outbox rows onto the bus; `consumers` makes handlers idempotent by event id.
"""

from flightdeck.platform.events.bus import (
    BusUnavailable,
    Event,
    EventBus,
    EventHandler,
)
from flightdeck.platform.events.outbox import OutboxEvent, record_event

__all__ = [
    "BusUnavailable",
    "Event",
    "EventBus",
    "EventHandler",
    "OutboxEvent",
    "record_event",
]
