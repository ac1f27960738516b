"""Test flights for searches: one call per flight, times in the airports' local offsets."""

from __future__ import annotations

from typing import Any

import httpx

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
