"""Airports, schedules, dated flights, seat inventory and live status."""
