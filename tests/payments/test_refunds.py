"""Cancelling a paid booking pays the fare-rule refund back through the gateway."""

from __future__ import annotations

import json

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from flightdeck.payments.gateways.sandbox import SandboxGateway
from flightdeck.platform.clock import clock
from tests.bookings.factories import fetch_rows, hours_before_departure
from tests.conftest import TestUser, assert_error
from tests.flights.factories import money
from tests.payments.factories import event_types, fresh_headers, held_booking, paid

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def refund_events(db: AsyncSession, payment_id: str) -> list[dict[str, object]]:
    rows = await fetch_rows(
        db,
        "SELECT payload FROM outbox_events WHERE aggregate_id = :a AND event_type = :t",
        a=payment_id,
        t="payment.refunded",
    )
    return [row[0] if isinstance(row[0], dict) else json.loads(row[0]) for row in rows]


async def test_cancelling_early_refunds_the_whole_payment(
    client: httpx.AsyncClient,
    db: AsyncSession,
    agent: TestUser,
    passenger: TestUser,
    sandbox: SandboxGateway,
) -> None:
    booking = await held_booking(client, agent.headers, passenger.headers)
    payment = await paid(client, passenger.headers, booking["id"])
    response = await client.delete(f"/bookings/{booking['id']}", headers=passenger.headers)
    assert response.status_code == 200, response.text
    assert response.json()["refund"] == money(45000)
    after = (await client.get(f"/payments/{payment['id']}", headers=passenger.headers)).json()
    assert after["status"] == "refunded"
    assert after["refunded_amount"] == money(45000)
    charge_id = next(iter(sandbox.charges))
    assert sandbox.charges[charge_id].refunded == 45000
    assert await event_types(db, payment["id"]) == ["payment.succeeded", "payment.refunded"]
    (event,) = await refund_events(db, payment["id"])
    assert event["user_id"] == passenger.id
    assert event["booking_id"] == booking["id"]
    assert event["pnr"] == booking["pnr"]
    assert event["refund"] == money(45000)
    assert event["amount"] == money(45000)


async def test_cancelling_late_refunds_half_and_the_payment_is_partially_refunded(
    app: FastAPI,
    client: httpx.AsyncClient,
    db: AsyncSession,
    agent: TestUser,
    passenger: TestUser,
    sandbox: SandboxGateway,
) -> None:
    booking = await held_booking(client, agent.headers, passenger.headers)
    payment = await paid(client, passenger.headers, booking["id"])
    clock.advance(hours_before_departure(booking["segments"][0], hours=23))
    headers = fresh_headers(app, passenger)
    response = await client.delete(f"/bookings/{booking['id']}", headers=headers)
    assert response.status_code == 200, response.text
    after = (await client.get(f"/payments/{payment['id']}", headers=headers)).json()
    assert after["status"] == "partially_refunded"
    assert after["refunded_amount"] == money(22500)
    (event,) = await refund_events(db, payment["id"])
    assert event["refund"] == money(22500)
    assert sandbox.charges[next(iter(sandbox.charges))].refunded == 22500


async def test_a_cancelled_flight_refunds_its_paid_bookings_in_full(
    app: FastAPI,
    client: httpx.AsyncClient,
    agent: TestUser,
    passenger: TestUser,
    sandbox: SandboxGateway,
) -> None:
    booking = await held_booking(client, agent.headers, passenger.headers)
    payment = await paid(client, passenger.headers, booking["id"])
    flight_id = booking["segments"][0]["flight_id"]
    response = await client.put(
        f"/flights/{flight_id}/status", json={"status": "cancelled"}, headers=agent.headers
    )
    assert response.status_code == 200, response.text
    after = (await client.get(f"/payments/{payment['id']}", headers=passenger.headers)).json()
    assert after["status"] == "refunded"
    assert after["refunded_amount"] == money(45000)


async def test_when_the_gateway_cannot_refund_the_booking_stays_confirmed(
    client: httpx.AsyncClient, agent: TestUser, passenger: TestUser, sandbox: SandboxGateway
) -> None:
    booking = await held_booking(client, agent.headers, passenger.headers)
    payment = await paid(client, passenger.headers, booking["id"])
    sandbox.charges.clear()  # the processor no longer knows the charge: every refund fails
    response = await client.delete(f"/bookings/{booking['id']}", headers=passenger.headers)
    assert_error(response, 503, "payment_gateway_unavailable")
    status = (await client.get(f"/bookings/{booking['id']}", headers=passenger.headers)).json()
    assert status["status"] == "confirmed"
    after = (await client.get(f"/payments/{payment['id']}", headers=passenger.headers)).json()
    assert after["status"] == "succeeded"
