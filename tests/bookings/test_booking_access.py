"""Who sees a booking: its owner, agents and admins; to anyone else it does not exist."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI

from tests.bookings.factories import book, booking_body, future_flight
from tests.conftest import TestUser, assert_error, create_user

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_the_owner_finds_the_booking_by_id_and_by_pnr_in_any_case(
    client: httpx.AsyncClient, agent: TestUser, passenger: TestUser
) -> None:
    flight = await future_flight(client, agent.headers)
    booking = await book(client, passenger.headers, booking_body([flight["id"]]))
    for reference in (booking["id"], booking["pnr"], booking["pnr"].lower()):
        response = await client.get(f"/bookings/{reference}", headers=passenger.headers)
        assert response.status_code == 200, response.text
        assert response.json() == booking


async def test_another_passengers_booking_is_404_by_id_and_by_pnr(
    client: httpx.AsyncClient, app: FastAPI, agent: TestUser, passenger: TestUser
) -> None:
    flight = await future_flight(client, agent.headers)
    booking = await book(client, passenger.headers, booking_body([flight["id"]]))
    stranger = await create_user(app, "passenger")
    for reference in (booking["id"], booking["pnr"]):
        response = await client.get(f"/bookings/{reference}", headers=stranger.headers)
        assert_error(response, 404, "booking_not_found")
    cancel = await client.delete(f"/bookings/{booking['id']}", headers=stranger.headers)
    assert_error(cancel, 404, "booking_not_found")
    listed = await client.get("/bookings", headers=stranger.headers)
    assert listed.json()["items"] == []
    still = await client.get(f"/bookings/{booking['id']}", headers=passenger.headers)
    assert still.json()["status"] == "pending_payment"


async def test_a_booking_that_does_not_exist_is_404(
    client: httpx.AsyncClient, passenger: TestUser
) -> None:
    for reference in ("ABCDEF", "00000000-0000-0000-0000-000000000000", "x" * 40):
        response = await client.get(f"/bookings/{reference}", headers=passenger.headers)
        assert_error(response, 404, "booking_not_found")


async def test_agents_and_admins_see_any_booking_with_passports_masked(
    client: httpx.AsyncClient, agent: TestUser, admin: TestUser, passenger: TestUser
) -> None:
    flight = await future_flight(client, agent.headers)
    booking = await book(client, passenger.headers, booking_body([flight["id"]]))
    assert booking["passengers"][0]["passport_number"] == "P000098765"
    for staff in (agent, admin):
        response = await client.get(f"/bookings/{booking['pnr']}", headers=staff.headers)
        assert response.status_code == 200, response.text
        [seen] = response.json()["passengers"]
        assert seen["passport_number"] == "•••••8765"
        assert seen["last_name"] == "Hopper"


async def test_reading_bookings_needs_a_token(client: httpx.AsyncClient) -> None:
    assert_error(await client.get("/bookings/ABCDEF"), 401, "not_authenticated")
    assert_error(await client.delete("/bookings/ABCDEF"), 401, "not_authenticated")
