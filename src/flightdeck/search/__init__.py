"""Itinerary search: direct flights and one-stop connections, read through flights' service."""
