"""FlightDeck: flight schedule management."""

__version__ = "0.1.0"
