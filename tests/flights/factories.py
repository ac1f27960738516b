"""Test data for flights: request payloads, flights created through the API, sold seats."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from flightdeck.flights.models import FlightCabin, FlightStatusChange
from flightdeck.platform.events.outbox import OutboxEvent

# FD101 JFK → LHR on a winter day: New York is at -05:00, London at +00:00.
WINTER_DEPARTURE = "2026-12-01T08:30:00-05:00"
WINTER_ARRIVAL = "2026-12-01T20:30:00+00:00"


def money(amount: int, currency: str = "USD") -> dict[str, Any]:
    return {"amount": amount, "currency": currency}


def flight_payload(**overrides: Any) -> dict[str, Any]:
    """A valid `POST /flights` body; keyword arguments replace its fields."""
    payload: dict[str, Any] = {
        "flight_number": "FD101",
        "origin": "JFK",
        "destination": "LHR",
        "departure_time": WINTER_DEPARTURE,
        "arrival_time": WINTER_ARRIVAL,
        "aircraft": "B789",
        "cabins": {
            "economy": {"seats": 150, "fare": money(45000)},
            "business": {"seats": 20, "fare": money(250000)},
        },
    }
    payload.update(overrides)
    return payload


async def create_flight(
    client: httpx.AsyncClient, headers: dict[str, str], **overrides: Any
) -> dict[str, Any]:
    """Creates a flight through the API and returns its JSON."""
    response = await client.post("/flights", json=flight_payload(**overrides), headers=headers)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def sell_seats(db: AsyncSession, flight_id: str, cabin: str, sold: int) -> None:
    """Marks seats of a cabin as sold, as bookings will."""
    await db.execute(
        update(FlightCabin)
        .where(FlightCabin.flight_id == flight_id, FlightCabin.cabin == cabin)
        .values(sold=sold)
    )
    await db.commit()


async def outbox_events(db: AsyncSession, event_type: str, flight_id: str) -> list[OutboxEvent]:
    """The outbox rows of that type for the flight, oldest first."""
    db.expire_all()
    result = await db.scalars(
        select(OutboxEvent)
        .where(OutboxEvent.event_type == event_type, OutboxEvent.aggregate_id == flight_id)
        .order_by(OutboxEvent.created_at)
    )
    events = list(result)
    await db.commit()
    return events


async def status_changes(db: AsyncSession, flight_id: str) -> list[FlightStatusChange]:
    """The stored status history of the flight, oldest first."""
    result = await db.scalars(
        select(FlightStatusChange)
        .where(FlightStatusChange.flight_id == flight_id)
        .order_by(FlightStatusChange.changed_at)
    )
    changes = list(result)
    await db.commit()
    return changes
