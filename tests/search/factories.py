"""Test flights for searches: one call per flight, times in the airports' local offsets; or
many at once, written as rows (`add_flight_rows`), for what a network's size decides (plans)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import insert

from flightdeck.flights.models import Flight, FlightCabin
from tests.flights.factories import create_flight, money


async def add_flight(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    flight_number: str,
    origin: str,
    destination: str,
    departure_time: str,
    arrival_time: str,
    *,
    seats: int = 150,
    fare: int = 100_00,
    currency: str = "USD",
    **overrides: Any,
) -> dict[str, Any]:
    """Creates a flight (one economy cabin unless `cabins` is given) through the API and
    returns its JSON."""
    overrides.setdefault("cabins", {"economy": {"seats": seats, "fare": money(fare, currency)}})
    return await create_flight(
        client,
        headers,
        flight_number=flight_number,
        origin=origin,
        destination=destination,
        departure_time=departure_time,
        arrival_time=arrival_time,
        **overrides,
    )


async def search(client: httpx.AsyncClient, **params: Any) -> dict[str, Any]:
    """`GET /search` that must succeed; returns the body."""
    response = await client.get("/search", params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def routes(body: dict[str, Any]) -> list[list[str]]:
    """Each itinerary as its flight numbers, in the order given."""
    return [[s["flight_number"] for s in i["segments"]] for i in body["itineraries"]]


async def add_flight_rows(app: FastAPI, flights: list[tuple[str, str, str, datetime]]) -> None:
    """(flight number, origin, destination, departure) flights of one leg, three hours long,
    scheduled, with 150 economy seats at 100.00 USD, written as rows in one transaction; then
    the tables' statistics brought up to date (PostgreSQL plans with them)."""
    created = datetime(2026, 1, 1, tzinfo=UTC)
    rows, cabins = [], []
    for i, (number, origin, destination, departure) in enumerate(flights):
        flight_id = f"row-{i}-{number}"
        rows.append({
            "id": flight_id, "flight_number": number, "service_date": departure.date(),
            "flight_date": departure.date(), "leg_sequence": 1, "service_type": "J",
            "origin": origin, "destination": destination, "destination_country": "US",
            "departure_at": departure, "arrival_at": departure + timedelta(hours=3),
            "status": "scheduled", "delay_minutes": 0, "distance_km": 0,
            "created_at": created, "updated_at": created,
        })  # fmt: skip
        cabins.append({
            "id": f"{flight_id}-economy", "flight_id": flight_id, "cabin": "economy",
            "capacity": 150, "sold": 0, "fare_amount": 10_000, "fare_currency": "USD",
        })  # fmt: skip
    async with app.state.engine.begin() as conn:
        await conn.execute(insert(Flight), rows)
        await conn.execute(insert(FlightCabin), cabins)
    if not app.state.settings.is_sqlite:
        async with app.state.engine.connect() as conn:
            await conn.exec_driver_sql("ANALYZE flights")
            await conn.exec_driver_sql("ANALYZE flight_cabins")
            await conn.commit()
