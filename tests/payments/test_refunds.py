"""Cancelling a paid booking pays the fare-rule refund back through the gateway: queued in
the cancellation's transaction, made by the refund worker (retried while the gateway is down)."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from flightdeck.payments.gateways.sandbox import SandboxGateway
from flightdeck.payments.refund_worker import RefundWorker
from flightdeck.payments.refunds import add_refund_listener, remove_refund_listener
from flightdeck.platform.clock import clock, utcnow
from flightdeck.platform.db import create_engine, create_sessionmaker
from tests.bookings.factories import fetch_rows, hours_before_departure
from tests.conftest import TestUser
from tests.flights.factories import money
from tests.payments.factories import (
    event_types,
    fresh_headers,
    held_booking,
    paid,
    payment_read,
    refund_rows,
    settle_refunds,
)

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
    app: FastAPI,
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
    await settle_refunds(app)
    after = await payment_read(client, passenger.headers, payment["id"])
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
    await settle_refunds(app)
    after = await payment_read(client, headers, payment["id"])
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
    await settle_refunds(app)
    after = await payment_read(client, passenger.headers, payment["id"])
    assert after["status"] == "refunded"
    assert after["refunded_amount"] == money(45000)


async def test_cancelling_with_the_gateway_down_succeeds_and_the_refund_is_made_once_it_is_back(
    client: httpx.AsyncClient,
    db: AsyncSession,
    agent: TestUser,
    passenger: TestUser,
    patient_sandbox: SandboxGateway,
    refund_worker: RefundWorker,
) -> None:
    booking = await held_booking(client, agent.headers, passenger.headers)
    payment = await paid(client, passenger.headers, booking["id"])
    woken: list[bool] = []

    def wake() -> None:
        woken.append(True)

    add_refund_listener(wake)
    try:
        patient_sandbox.outage = True
        response = await client.delete(f"/bookings/{booking['id']}", headers=passenger.headers)
    finally:
        remove_refund_listener(wake)
    assert response.status_code == 200, response.text
    assert response.json()["booking"]["status"] == "cancelled"
    assert response.json()["refund"] == money(45000)
    assert woken == [True]  # the commit woke the refund workers
    pending = await payment_read(client, passenger.headers, payment["id"])
    assert pending["status"] == "succeeded" and pending["refunded_amount"] is None
    (refund,) = pending["refunds"]
    assert refund["status"] == "pending" and refund["amount"] == money(45000)
    assert refund["reason"] == "booking_cancelled"

    # While the gateway is down each attempt fails and the next waits longer.
    (first,) = await refund_worker.refund_due()
    assert first.outcome == "retrying"
    assert await refund_worker.refund_due() == []  # not due again yet
    clock.advance(timedelta(seconds=1))
    (second,) = await refund_worker.refund_due()
    assert second.outcome == "retrying"
    (row,) = await refund_rows(db, payment["id"])
    assert row.status == "pending" and row.attempts == 2
    assert row.last_error is not None and "outage" in row.last_error
    wait = row.next_attempt_at - utcnow()
    assert timedelta(seconds=1) < wait <= timedelta(seconds=2)
    assert patient_sandbox.refund_count == 0

    patient_sandbox.outage = False
    clock.advance(timedelta(seconds=2))
    (done,) = await refund_worker.refund_due()
    assert (done.outcome, done.refund_id) == ("succeeded", refund["id"])
    assert await refund_worker.refund_due() == []
    after = await payment_read(client, passenger.headers, payment["id"])
    assert after["status"] == "refunded" and after["refunded_amount"] == money(45000)
    assert [r["status"] for r in after["refunds"]] == ["succeeded"]
    assert patient_sandbox.refund_count == 1
    assert patient_sandbox.charges[next(iter(patient_sandbox.charges))].refunded == 45000
    assert await event_types(db, payment["id"]) == ["payment.succeeded", "payment.refunded"]


async def test_two_workers_at_once_refund_once(
    app: FastAPI,
    client: httpx.AsyncClient,
    db: AsyncSession,
    agent: TestUser,
    passenger: TestUser,
    sandbox: SandboxGateway,
    refund_worker: RefundWorker,
) -> None:
    bookings = [
        await held_booking(client, agent.headers, passenger.headers, flight_number=f"FD{n}")
        for n in (501, 502, 503)
    ]
    payments = [await paid(client, passenger.headers, b["id"]) for b in bookings]
    for booking in bookings:
        response = await client.delete(f"/bookings/{booking['id']}", headers=passenger.headers)
        assert response.status_code == 200, response.text
    # Three servers' workers, each with its own connection pool (as in three processes).
    engines = [create_engine(app.state.settings) for _ in range(3)]
    try:
        workers = [RefundWorker(create_sessionmaker(engine)) for engine in engines]
        passes = await asyncio.gather(*(worker.refund_due() for worker in workers))
    finally:
        for engine in engines:
            await engine.dispose()
    succeeded = [o.refund_id for outcomes in passes for o in outcomes if o.outcome == "succeeded"]
    assert len(succeeded) == len(set(succeeded)) == 3
    assert sandbox.refund_count == 3
    for payment in payments:
        after = await payment_read(client, passenger.headers, payment["id"])
        assert after["status"] == "refunded" and after["refunded_amount"] == money(45000)
        assert await event_types(db, payment["id"]) == ["payment.succeeded", "payment.refunded"]
    assert all(charge.refunded == 45000 for charge in sandbox.charges.values())
