"""POST /notifications: staff messages to one user or to every passenger booked on a flight,
into the inbox and, per each user's preferences, by email."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from tests.bookings.factories import book, booking_body, future_flight
from tests.conftest import TestUser, assert_error, create_user
from tests.notifications.helpers import (
    body_text,
    email_off,
    eventually,
    inbox,
    stored_notifications,
    to,
)
from tests.servers.smtp import SmtpServer

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_a_message_to_one_user_reaches_the_inbox_and_email(
    client: httpx.AsyncClient, agent: TestUser, passenger: TestUser, smtp: SmtpServer
) -> None:
    response = await client.post(
        "/notifications",
        json={"user_id": passenger.id, "title": "Lounge access", "message": "Enjoy the lounge."},
        headers=agent.headers,
    )
    assert response.status_code == 202, response.text
    assert response.json() == {"recipients": 1}
    [item] = await inbox(client, passenger.headers)
    assert (item["title"], item["message"], item["kind"]) == (
        "Lounge access",
        "Enjoy the lounge.",
        "message",
    )
    email = await smtp.wait_for(to(passenger.email))
    assert email["Subject"] == "Lounge access"
    assert "Enjoy the lounge." in body_text(email)
    assert email["From"] == "FlightDeck <no-reply@flightdeck.local>"
    assert item["id"] in email["Message-ID"]


async def test_a_message_to_a_flight_reaches_each_booked_passenger_once(
    client: httpx.AsyncClient,
    app: FastAPI,
    db: AsyncSession,
    agent: TestUser,
    admin: TestUser,
    smtp: SmtpServer,
) -> None:
    flight = await future_flight(client, agent.headers)
    other_flight = await future_flight(client, agent.headers, flight_number="FD900")
    alice = await create_user(app, "passenger", full_name="Alice Liddell")
    bob = await create_user(app, "passenger", full_name="Bob Quiet")
    carol = await create_user(app, "passenger", full_name="Carol Elsewhere")
    await book(client, alice.headers, booking_body([flight["id"]], passengers=2))
    await book(client, alice.headers, booking_body([flight["id"]]))  # two bookings, one person
    await book(client, bob.headers, booking_body([flight["id"]]))
    await book(client, carol.headers, booking_body([other_flight["id"]]))
    await email_off(client, bob.headers)

    response = await client.post(
        "/notifications",
        json={"flight_id": flight["id"], "title": "Bring a coat", "message": "It is cold."},
        headers=admin.headers,
    )
    assert response.status_code == 202, response.text
    assert response.json() == {"recipients": 2}
    for user in (alice, bob):
        [item] = await inbox(client, user.headers)
        assert item["title"] == "Bring a coat"
        assert item["data"]["flight_id"] == flight["id"]
    assert await inbox(client, carol.headers) == []
    email = await smtp.wait_for(to(alice.email))
    assert "Hello Alice Liddell" in body_text(email)

    async def batch_emailed() -> bool:  # the batch's outcome is stored after all its sends
        return [n.email_state for n in await stored_notifications(db, alice.id)] == ["sent"]

    await eventually(batch_emailed, what="alice's email recorded as sent")
    assert [n.email_state for n in await stored_notifications(db, bob.id)] == ["not_wanted"]
    assert smtp.messages_to(bob.email) == []  # bob turned email off
    assert len(smtp.messages_to(alice.email)) == 1


async def test_a_flight_nobody_booked_reaches_nobody(
    client: httpx.AsyncClient, agent: TestUser
) -> None:
    flight = await future_flight(client, agent.headers)
    response = await client.post(
        "/notifications",
        json={"flight_id": flight["id"], "title": "Hello", "message": "Anyone?"},
        headers=agent.headers,
    )
    assert response.status_code == 202, response.text
    assert response.json() == {"recipients": 0}


@pytest.mark.parametrize(
    "body",
    [
        {"title": "t", "message": "m"},
        {"user_id": "u", "flight_id": "f", "title": "t", "message": "m"},
        {"user_id": "u", "title": "", "message": "m"},
        {"user_id": "u", "title": "t"},
        {"user_id": "u", "title": "t", "message": "m", "urgent": True},
    ],
)
async def test_a_message_needs_one_audience_a_title_and_a_message(
    client: httpx.AsyncClient, agent: TestUser, body: dict[str, object]
) -> None:
    response = await client.post("/notifications", json=body, headers=agent.headers)
    assert_error(response, 422, "validation_error")


async def test_unknown_recipients_are_not_found(client: httpx.AsyncClient, agent: TestUser) -> None:
    to_user = await client.post(
        "/notifications",
        json={"user_id": "no-such-user", "title": "t", "message": "m"},
        headers=agent.headers,
    )
    assert_error(to_user, 404, "user_not_found")
    to_flight = await client.post(
        "/notifications",
        json={"flight_id": "no-such-flight", "title": "t", "message": "m"},
        headers=agent.headers,
    )
    assert_error(to_flight, 404, "flight_not_found")


async def test_only_staff_send_messages(
    client: httpx.AsyncClient, passenger: TestUser, smtp: SmtpServer
) -> None:
    body = {"user_id": passenger.id, "title": "Free upgrade", "message": "Honest."}
    assert_error(await client.post("/notifications", json=body, headers=passenger.headers), 403)
    assert_error(await client.post("/notifications", json=body), 401)
    assert await inbox(client, passenger.headers) == []
