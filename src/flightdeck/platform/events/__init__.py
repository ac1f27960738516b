"""Domain events: written to the outbox in the producer's transaction, published after commit."""

from flightdeck.platform.events.outbox import OutboxEvent, record_event

__all__ = ["OutboxEvent", "record_event"]
