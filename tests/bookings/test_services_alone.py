"""Each service runs alone (`flightdeck serve --services <name>`) against the shared database and
booking store: it serves its own routes only, and the in-process calls other domains make into
the bookings service reach the configured store (SQL or MongoDB) even where bookings is not
served. Runs once per booking store and database (tests/bookings/conftest.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from flightdeck.app import create_app
from tests.bookings.factories import book, booking_body, confirm, future_flight, seats_available
from tests.bookings.stores import stored_status
from tests.conftest import TestUser


@asynccontextmanager
async def service_alone(app: FastAPI, *services: str) -> AsyncIterator[httpx.AsyncClient]:
    """A second process's app on the same database and store, running only `services`."""
    alone = create_app(app.state.settings, services=list(services))
    transport = httpx.ASGITransport(app=alone, client=("203.0.113.30", 40000))
    async with (
        LifespanManager(alone),
        httpx.AsyncClient(transport=transport, base_url="http://testserver") as http,
    ):
        yield http


async def test_a_flights_only_process_cancels_bookings_in_the_configured_store(
    client: httpx.AsyncClient, app: FastAPI, agent: TestUser, passenger: TestUser
) -> None:
    flight = await future_flight(client, agent.headers)
    booking = await book(client, passenger.headers, booking_body([flight["id"]]))
    async with service_alone(app, "flights") as flights:
        assert (await flights.get("/healthz")).json()["services"] == ["flights"]
        assert (await flights.get("/bookings", headers=passenger.headers)).status_code == 404
        response = await flights.put(
            f"/flights/{flight['id']}/status", json={"status": "cancelled"}, headers=agent.headers
        )
        assert response.status_code == 200, response.text
    assert await stored_status(app, booking["id"]) == "cancelled"
    assert await seats_available(client, flight["id"]) == 150


async def test_a_bookings_only_process_holds_seats_through_the_flights_service(
    client: httpx.AsyncClient, app: FastAPI, agent: TestUser, passenger: TestUser
) -> None:
    flight = await future_flight(client, agent.headers)
    async with service_alone(app, "bookings") as bookings:
        response = await bookings.post(
            "/bookings", json=booking_body([flight["id"]], passengers=2), headers=passenger.headers
        )
        assert response.status_code == 201, response.text
        # Flights' inventory is called in-process; flights' routes are not served here.
        assert (await bookings.get(f"/flights/{flight['id']}")).status_code == 404
    assert await stored_status(app, response.json()["id"]) == "pending_payment"
    assert await seats_available(client, flight["id"]) == 148


async def test_a_payments_only_process_confirms_the_booking_in_the_configured_store(
    client: httpx.AsyncClient, app: FastAPI, agent: TestUser, passenger: TestUser
) -> None:
    flight = await future_flight(client, agent.headers)
    booking = await book(client, passenger.headers, booking_body([flight["id"]]))
    card = {
        "type": "card",
        "number": "4242424242424242",
        "exp_month": 12,
        "exp_year": 2040,
        "cvc": "123",
        "holder": "Grace Hopper",
    }
    async with service_alone(app, "payments") as payments:
        response = await payments.post(
            "/payments",
            json={"booking_id": booking["id"], "method": card},
            headers=passenger.headers,
        )
        assert response.status_code == 201, response.text
        assert response.json()["status"] == "succeeded"
    assert await stored_status(app, booking["id"]) == "confirmed"


async def test_a_notifications_only_process_reaches_a_flights_passengers(
    client: httpx.AsyncClient, app: FastAPI, agent: TestUser, passenger: TestUser
) -> None:
    flight = await future_flight(client, agent.headers)
    booking = await book(client, passenger.headers, booking_body([flight["id"]]))
    await confirm(app, booking["id"])
    async with service_alone(app, "notifications") as notifications:
        response = await notifications.post(
            "/notifications",
            json={"flight_id": flight["id"], "title": "Gate change", "message": "Now B12"},
            headers=agent.headers,
        )
        assert response.status_code == 202, response.text
        assert response.json()["recipients"] == 1
        inbox = await notifications.get("/notifications", headers=passenger.headers)
    assert "Gate change" in [n["title"] for n in inbox.json()["items"]]
