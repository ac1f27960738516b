"""DELETE /bookings/{id}: seats back, refund per fare rules; a cancelled flight cancels its
bookings."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from flightdeck.platform.clock import clock
from flightdeck.platform.security.tokens import issue_access_token
from tests.bookings.factories import (
    book,
    booking_body,
    booking_events,
    confirm,
    connecting_flights,
    future_flight,
    hours_before_departure,
    seats_available,
    traveller,
)
from tests.conftest import TestUser, assert_error
from tests.flights.factories import money

pytestmark = pytest.mark.asyncio(loop_scope="session")


def fresh_headers(app: FastAPI, user: TestUser) -> dict[str, str]:
    """A token issued at the (moved) clock's now."""
    token, _ = issue_access_token(app.state.settings, user.id, user.role)
    return {"Authorization": f"Bearer {token}"}


async def test_cancelling_an_unpaid_booking_releases_seats_without_refund(
    client: httpx.AsyncClient, agent: TestUser, passenger: TestUser, db: AsyncSession
) -> None:
    first, second = await connecting_flights(client, agent.headers)
    body = booking_body(
        [first["id"], second["id"]], passengers=[traveller(0, seat="12A"), traveller(1)]
    )
    booking = await book(client, passenger.headers, body)
    response = await client.delete(f"/bookings/{booking['id']}", headers=passenger.headers)
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["status"] == "cancelled"
    assert result["refund"] is None
    assert result["booking"]["status"] == "cancelled"
    assert result["booking"]["cancellation_reason"] == "cancelled_by_passenger"
    assert await seats_available(client, first["id"]) == 150
    assert await seats_available(client, second["id"]) == 150
    rebooked = await book(client, passenger.headers, body)  # seat 12A is free again
    assert rebooked["segments"][0]["seats"] == ["12A", None]
    events = await booking_events(db, booking["id"])
    assert [e.event_type for e in events] == ["booking.created", "booking.cancelled"]
    assert events[1].payload["refund"] is None
    assert events[1].payload["status"] == "cancelled"


async def test_cancelling_twice_is_409(
    client: httpx.AsyncClient, agent: TestUser, passenger: TestUser
) -> None:
    flight = await future_flight(client, agent.headers)
    booking = await book(client, passenger.headers, booking_body([flight["id"]]))
    first = await client.delete(f"/bookings/{booking['id']}", headers=passenger.headers)
    assert first.status_code == 200, first.text
    again = await client.delete(f"/bookings/{booking['id']}", headers=passenger.headers)
    assert_error(again, 409, "booking_not_cancellable")
    assert await seats_available(client, flight["id"]) == 150


async def test_a_paid_booking_cancelled_more_than_24h_ahead_is_refunded_in_full(
    client: httpx.AsyncClient, app: FastAPI, agent: TestUser, passenger: TestUser, db: AsyncSession
) -> None:
    flight = await future_flight(client, agent.headers)
    booking = await book(client, passenger.headers, booking_body([flight["id"]], passengers=2))
    await confirm(app, booking["id"])
    response = await client.delete(f"/bookings/{booking['pnr']}", headers=passenger.headers)
    assert response.status_code == 200, response.text
    assert response.json()["refund"] == money(90000)
    assert response.json()["booking"]["refund_amount"] == money(90000)
    assert await seats_available(client, flight["id"]) == 150
    events = await booking_events(db, booking["id"])
    assert events[-1].event_type == "booking.cancelled"
    assert events[-1].payload["refund"] == money(90000)


async def test_a_paid_booking_cancelled_within_24h_is_refunded_half(
    client: httpx.AsyncClient, app: FastAPI, agent: TestUser, passenger: TestUser
) -> None:
    flight = await future_flight(client, agent.headers, economy_fare=45001)
    booking = await book(client, passenger.headers, booking_body([flight["id"]]))
    await confirm(app, booking["id"])
    clock.advance(hours_before_departure(booking["segments"][0], hours=23))
    response = await client.delete(
        f"/bookings/{booking['id']}", headers=fresh_headers(app, passenger)
    )
    assert response.status_code == 200, response.text
    assert response.json()["refund"] == money(22500)  # 50 %, rounded down to the cent


async def test_an_agent_may_cancel_a_passengers_booking(
    client: httpx.AsyncClient, agent: TestUser, passenger: TestUser
) -> None:
    flight = await future_flight(client, agent.headers)
    booking = await book(client, passenger.headers, booking_body([flight["id"]]))
    response = await client.delete(f"/bookings/{booking['id']}", headers=agent.headers)
    assert response.status_code == 200, response.text
    assert response.json()["booking"]["cancellation_reason"] == "cancelled_by_staff"
    assert response.json()["booking"]["passengers"][0]["passport_number"] == "•••••8765"


async def test_cancelling_a_flight_cancels_its_bookings_and_refunds_paid_ones_in_full(
    client: httpx.AsyncClient, app: FastAPI, agent: TestUser, passenger: TestUser, db: AsyncSession
) -> None:
    first, second = await connecting_flights(client, agent.headers)
    unpaid = await book(client, passenger.headers, booking_body([first["id"], second["id"]]))
    paid = await book(client, passenger.headers, booking_body([first["id"]], passengers=2))
    await confirm(app, paid["id"])
    elsewhere = await book(client, passenger.headers, booking_body([second["id"]]))
    clock.advance(hours_before_departure(first, hours=2))  # late: the airline still pays all

    response = await client.put(
        f"/flights/{first['id']}/status",
        json={"status": "cancelled"},
        headers=fresh_headers(app, agent),
    )

    assert response.status_code == 200, response.text
    headers = fresh_headers(app, passenger)
    seen = {b["id"]: b for b in (await client.get("/bookings", headers=headers)).json()["items"]}
    assert seen[unpaid["id"]]["status"] == seen[paid["id"]]["status"] == "cancelled"
    assert seen[paid["id"]]["refund_amount"] == money(90000)
    assert seen[unpaid["id"]]["refund_amount"] is None
    assert seen[elsewhere["id"]]["status"] == "pending_payment"
    assert seen[paid["id"]]["cancellation_reason"] == "flight_cancelled"
    assert await seats_available(client, first["id"]) == 150
    assert await seats_available(client, second["id"]) == 149  # only `elsewhere` left
    events = await booking_events(db, paid["id"])
    [event] = [e for e in events if e.event_type == "booking.cancelled"]
    assert event.payload["reason"] == "flight_cancelled"
    assert event.payload["refund"] == money(90000)


async def test_deleting_a_booked_flight_reports_the_bookings_it_cancelled(
    client: httpx.AsyncClient, agent: TestUser, passenger: TestUser
) -> None:
    flight = await future_flight(client, agent.headers)
    for _ in range(2):
        await book(client, passenger.headers, booking_body([flight["id"]]))
    response = await client.delete(f"/flights/{flight['id']}", headers=agent.headers)
    assert response.status_code == 200, response.text
    assert response.json()["affected_bookings"] == 2
    listed = (await client.get("/bookings", headers=passenger.headers)).json()["items"]
    assert {b["status"] for b in listed} == {"cancelled"}
    assert await seats_available(client, flight["id"]) == 150
