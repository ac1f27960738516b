"""Events → notifications: flight changes reach every booked passenger, booking and payment
events reach the booking's user; each event counts once, and so does each email."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from flightdeck.bookings import service as bookings_service
from flightdeck.notifications.handlers import INBOX_CONSUMER, email_handler, inbox_handler
from flightdeck.notifications.texts import local_time
from flightdeck.platform.clock import utcnow
from flightdeck.platform.events.bus import Event
from flightdeck.platform.events.consumers import ProcessedEvent
from flightdeck.platform.events.outbox import OutboxEvent
from tests.bookings.factories import book, booking_body, confirm, future_flight
from tests.conftest import TestUser, create_user
from tests.notifications.helpers import (
    body_text,
    email_off,
    eventually,
    inbox,
    stored_notifications,
    to,
    wait_for_inbox,
)
from tests.servers.smtp import SmtpServer

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def set_status(
    client: httpx.AsyncClient, staff: TestUser, flight_id: str, **body: Any
) -> dict[str, Any]:
    response = await client.put(f"/flights/{flight_id}/status", json=body, headers=staff.headers)
    assert response.status_code == 200, response.text
    status: dict[str, Any] = (await client.get(f"/flights/{flight_id}/status")).json()
    return status


async def outbox_event(db: AsyncSession, event_type: str, aggregate_id: str) -> Event:
    """The committed outbox row as the bus would deliver it."""
    try:
        row = await db.scalar(
            select(OutboxEvent).where(
                OutboxEvent.event_type == event_type, OutboxEvent.aggregate_id == aggregate_id
            )
        )
        assert row is not None, f"no {event_type} event for {aggregate_id}"
        return Event(
            id=row.id,
            type=row.event_type,
            aggregate_type=row.aggregate_type,
            aggregate_id=row.aggregate_id,
            payload=row.payload,
            occurred_at=row.created_at,
            actor_id=row.actor_id,
        )
    finally:
        await db.rollback()


async def handled_count(db: AsyncSession, event_type: str, aggregate_id: str) -> int:
    """How many of the aggregate's events of that type the inbox consumer has handled."""
    try:
        count = await db.scalar(
            select(func.count())
            .select_from(ProcessedEvent)
            .join(OutboxEvent, OutboxEvent.id == ProcessedEvent.event_id)
            .where(
                ProcessedEvent.consumer == INBOX_CONSUMER,
                OutboxEvent.event_type == event_type,
                OutboxEvent.aggregate_id == aggregate_id,
            )
        )
        return int(count or 0)
    finally:
        await db.rollback()


def of_kind(items: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [item for item in items if item["kind"] == kind]


async def test_an_offline_passenger_finds_a_delay_in_the_inbox_and_email(
    client: httpx.AsyncClient, app: FastAPI, agent: TestUser, smtp: SmtpServer
) -> None:
    flight = await future_flight(client, agent.headers)
    traveller = await create_user(app, "passenger", full_name="Ada Offline")
    await book(client, traveller.headers, booking_body([flight["id"]]))
    status = await set_status(
        client, agent, flight["id"], status="delayed", delay_minutes=95, gate="B12"
    )
    [delay] = await wait_for_inbox(client, traveller.headers)
    assert delay["kind"] == "flight.delayed"
    assert delay["title"] == "FD101 is delayed"
    new_departure = local_time(status["estimated_departure"])  # in New York's offset
    assert "UTC-0" in new_departure
    for text in ("FD101 JFK → LHR", "by 95 minutes", new_departure, "Gate B12"):
        assert text in delay["message"]
    assert delay["data"]["estimated_departure"] == status["estimated_departure"]
    assert delay["data"]["gate"] == "B12"
    email = await smtp.wait_for(to(traveller.email))
    assert email["Subject"] == "FD101 is delayed"
    assert new_departure in body_text(email)


async def test_the_same_event_twice_makes_one_notification_and_one_email(
    client: httpx.AsyncClient,
    app: FastAPI,
    db: AsyncSession,
    agent: TestUser,
    passenger: TestUser,
    smtp: SmtpServer,
) -> None:
    flight = await future_flight(client, agent.headers)
    booking = await book(client, passenger.headers, booking_body([flight["id"]]))
    await confirm(app, booking["id"])
    [confirmed] = await wait_for_inbox(client, passenger.headers)
    assert confirmed["kind"] == "booking.confirmed"
    assert booking["pnr"] in confirmed["title"]
    await smtp.wait_for(to(passenger.email))
    # The first delivery has finished, its email recorded as sent: on SQLite the `db` session
    # below reads one snapshot, which must not predate that (it did once under CI load).
    await app.state.bus.drain()

    # The broker redelivers both events (the bus already delivered each once).
    event = await outbox_event(db, "booking.confirmed", booking["id"])
    [stored] = await stored_notifications(db, passenger.id)
    created = await outbox_event(db, "notification.created", stored.batch_id)
    handle = inbox_handler(app.state.sessionmaker, app.state.mailer)
    send_emails = email_handler(app.state.sessionmaker, app.state.mailer)
    await handle(event)
    await handle(event)
    await send_emails(created)
    await send_emails(created)

    [stored] = await stored_notifications(db, passenger.id)
    assert (stored.email_state, stored.email_attempts) == ("sent", 1)
    assert len(await inbox(client, passenger.headers)) == 1
    assert len(smtp.messages_to(passenger.email)) == 1


async def test_a_gate_change_reaches_passengers_and_a_plain_update_does_not(
    client: httpx.AsyncClient, app: FastAPI, db: AsyncSession, agent: TestUser
) -> None:
    flight = await future_flight(client, agent.headers)
    traveller = await create_user(app, "passenger")
    await email_off(client, traveller.headers)
    await book(client, traveller.headers, booking_body([flight["id"]]))
    await set_status(client, agent, flight["id"], status="on_time", gate="A1")
    await set_status(client, agent, flight["id"], status="on_time", remark="all good")
    await set_status(client, agent, flight["id"], status="on_time", gate="C7")
    items = await wait_for_inbox(client, traveller.headers, count=2)
    assert [n["kind"] for n in items] == ["flight.gate_changed", "flight.gate_changed"]
    assert "gate C7" in items[0]["message"] and "(was A1)" in items[0]["message"]

    async def all_three_handled() -> bool:
        return await handled_count(db, "flight.status_changed", flight["id"]) == 3

    await eventually(all_three_handled, what="the three status events handled")
    assert len(await inbox(client, traveller.headers)) == 2  # the remark alone made none


async def test_a_cancelled_flight_notifies_each_passenger_once_with_the_refund(
    client: httpx.AsyncClient, app: FastAPI, agent: TestUser, smtp: SmtpServer
) -> None:
    flight = await future_flight(client, agent.headers)
    paid = await create_user(app, "passenger")
    unpaid = await create_user(app, "passenger")
    booking = await book(client, paid.headers, booking_body([flight["id"]]))
    await confirm(app, booking["id"])
    await book(client, unpaid.headers, booking_body([flight["id"]]))
    await wait_for_inbox(client, paid.headers)  # the confirmation
    await set_status(client, agent, flight["id"], status="cancelled", remark="crew shortage")

    items = await wait_for_inbox(client, paid.headers, count=2)
    [cancelled] = of_kind(items, "flight.cancelled")
    assert cancelled["title"] == "FD101 is cancelled"
    assert booking["pnr"] in cancelled["message"]
    assert "A refund of 450.00 USD is on its way." in cancelled["message"]
    [unpaid_cancelled] = await wait_for_inbox(client, unpaid.headers)
    assert unpaid_cancelled["kind"] == "flight.cancelled"
    assert "refund" not in unpaid_cancelled["message"]
    email = await smtp.wait_for(
        lambda m: to(paid.email)(m) and m["Subject"] == "FD101 is cancelled"
    )
    assert "450.00 USD" in body_text(email)
    assert len(of_kind(await inbox(client, paid.headers), "flight.cancelled")) == 1


async def test_a_cancelled_or_expired_booking_tells_its_user(
    client: httpx.AsyncClient, app: FastAPI, agent: TestUser, passenger: TestUser
) -> None:
    flight = await future_flight(client, agent.headers)
    cancelled = await book(client, passenger.headers, booking_body([flight["id"]]))
    response = await client.delete(f"/bookings/{cancelled['id']}", headers=passenger.headers)
    assert response.status_code == 200, response.text
    [notice] = await wait_for_inbox(client, passenger.headers)
    assert notice["kind"] == "booking.cancelled"
    assert notice["data"]["pnr"] == cancelled["pnr"]
    assert f"Your booking {cancelled['pnr']} (FD101 JFK → LHR on" in notice["message"]

    held = await book(client, passenger.headers, booking_body([flight["id"]]))
    later = utcnow() + timedelta(minutes=app.state.settings.hold_minutes + 1)
    async with app.state.sessionmaker() as session, session.begin():  # the sweeper's step
        assert await bookings_service.expire_booking(session, held["id"], later)
    items = await wait_for_inbox(client, passenger.headers, count=2)
    [expired] = of_kind(items, "booking.expired")
    assert held["pnr"] in expired["title"]


async def test_a_refund_tells_the_paying_user(
    client: httpx.AsyncClient, app: FastAPI, db: AsyncSession, passenger: TestUser
) -> None:
    event = Event(
        id="evt-refund-1",
        type="payment.refunded",
        aggregate_type="payment",
        aggregate_id="pay_1",
        payload={
            "payment_id": "pay_1",
            "booking_id": "b1",
            "pnr": "ZX81AB",
            "user_id": passenger.id,
            "amount": {"amount": 12050, "currency": "EUR"},
        },
        occurred_at=utcnow(),
    )
    await inbox_handler(app.state.sessionmaker, app.state.mailer)(event)
    [refund] = await inbox(client, passenger.headers)
    assert refund["kind"] == "payment.refunded"
    assert "A refund of 120.50 EUR for booking ZX81AB" in refund["message"]


async def test_an_email_that_keeps_failing_is_given_up_without_breaking_the_handler(
    client: httpx.AsyncClient,
    app: FastAPI,
    db: AsyncSession,
    agent: TestUser,
    passenger: TestUser,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import socket

    with socket.socket() as closed:  # a port nobody listens on
        closed.bind(("127.0.0.1", 0))
        monkeypatch.setattr(app.state.mailer.settings, "smtp_port", closed.getsockname()[1])
    response = await client.post(
        "/notifications",
        json={"user_id": passenger.id, "title": "Hi", "message": "There"},
        headers=agent.headers,
    )
    assert response.status_code == 202

    async def given_up() -> bool:
        return [n.email_state for n in await stored_notifications(db, passenger.id)] == ["failed"]

    await eventually(given_up, what="the email marked failed")
    [stored] = await stored_notifications(db, passenger.id)
    assert stored.email_attempts == 3  # the first try and two retries
    assert stored.emailed_at is None
    assert len(await inbox(client, passenger.headers)) == 1
