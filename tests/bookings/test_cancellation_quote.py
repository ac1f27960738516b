"""GET /bookings/{id}/cancellation: the refund a cancellation now would pay, before it is made."""

from __future__ import annotations

from datetime import datetime, timedelta

import httpx
import pytest
from fastapi import FastAPI

from flightdeck.platform.clock import clock
from tests.bookings.factories import (
    book,
    booking_body,
    confirm,
    future_flight,
    hours_before_departure,
    seats_available,
)
from tests.bookings.test_cancel import fresh_headers
from tests.conftest import TestUser, assert_error, create_user
from tests.flights.factories import money

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_a_paid_booking_is_quoted_the_full_refund_it_then_gets(
    client: httpx.AsyncClient, app: FastAPI, agent: TestUser, passenger: TestUser
) -> None:
    flight = await future_flight(client, agent.headers)
    booking = await book(client, passenger.headers, booking_body([flight["id"]], passengers=2))
    await confirm(app, booking["id"])
    quote = await client.get(f"/bookings/{booking['pnr']}/cancellation", headers=passenger.headers)
    assert quote.status_code == 200, quote.text
    assert quote.json()["cancellable"] is True
    assert quote.json()["refund"] == money(90000)
    until = datetime.fromisoformat(quote.json()["full_refund_until"])
    departure = datetime.fromisoformat(booking["segments"][0]["departure_time"])
    assert departure - until == timedelta(hours=24)
    assert await seats_available(client, flight["id"]) == 148  # nothing changed
    cancelled = await client.delete(f"/bookings/{booking['id']}", headers=passenger.headers)
    assert cancelled.json()["refund"] == quote.json()["refund"]


async def test_within_24_hours_the_quote_is_half_as_the_cancellation(
    client: httpx.AsyncClient, app: FastAPI, agent: TestUser, passenger: TestUser
) -> None:
    flight = await future_flight(client, agent.headers, economy_fare=45001)
    booking = await book(client, passenger.headers, booking_body([flight["id"]]))
    await confirm(app, booking["id"])
    clock.advance(hours_before_departure(booking["segments"][0], hours=23))
    headers = fresh_headers(app, passenger)
    quote = (await client.get(f"/bookings/{booking['id']}/cancellation", headers=headers)).json()
    assert quote["refund"] == money(22500)
    assert "50 %" in quote["rule"]
    cancelled = await client.delete(f"/bookings/{booking['id']}", headers=headers)
    assert cancelled.json()["refund"] == money(22500)


async def test_an_unpaid_booking_is_quoted_no_refund_and_a_cancelled_one_not_cancellable(
    client: httpx.AsyncClient, agent: TestUser, passenger: TestUser
) -> None:
    flight = await future_flight(client, agent.headers)
    booking = await book(client, passenger.headers, booking_body([flight["id"]]))
    url = f"/bookings/{booking['id']}/cancellation"
    quote = (await client.get(url, headers=passenger.headers)).json()
    assert quote == {
        "cancellable": True,
        "refund": None,
        "full_refund_until": None,
        "rule": "Nothing was paid, so nothing is refunded; the seats are released.",
    }
    await client.delete(f"/bookings/{booking['id']}", headers=passenger.headers)
    assert (await client.get(url, headers=passenger.headers)).json()["cancellable"] is False


async def test_another_passengers_booking_cannot_be_quoted(
    client: httpx.AsyncClient, app: FastAPI, agent: TestUser, passenger: TestUser
) -> None:
    flight = await future_flight(client, agent.headers)
    booking = await book(client, passenger.headers, booking_body([flight["id"]]))
    stranger = await create_user(app, "passenger")
    response = await client.get(f"/bookings/{booking['id']}/cancellation", headers=stranger.headers)
    assert_error(response, 404, "booking_not_found")
