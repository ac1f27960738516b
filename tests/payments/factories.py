"""Test data for payments: payment methods, a booking on hold, paying it, reading rows,
running the reconciler and the refund worker."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from flightdeck.payments.models import Payment, PaymentRefund
from flightdeck.payments.reconciler import Reconciled, reconcile_payments
from flightdeck.payments.refund_worker import RefundOutcome, RefundWorker
from flightdeck.platform.clock import clock, utcnow
from flightdeck.platform.db import new_id
from flightdeck.platform.security.tokens import issue_access_token
from tests.bookings.factories import book, booking_body, fetch_rows, future_flight
from tests.conftest import TestUser

VISA_OK = "4242424242424242"
DECLINED = "4000000000000002"
INSUFFICIENT_FUNDS = "4000000000009995"
THREE_D_SECURE = "4000000000003220"
TIMES_OUT = "4000000000000119"
MASTERCARD_OK = "5555555555554444"
AMEX_OK = "378282246310005"
DISCOVER_OK = "6011111111111117"
TEST_CVC = "314"
# Older than this, an attempt still `processing` is the reconciler's (tests: past any timeout).
RECONCILE_AFTER = timedelta(seconds=5)


def card(number: str = VISA_OK, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": "card",
        "number": number,
        "exp_month": 12,
        "exp_year": utcnow().year + 2,
        "cvc": TEST_CVC,
        "holder": "Grace Hopper",
    }
    body.update(overrides)
    return body


def wallet(token: str = "tok_success", provider: str = "apple_pay") -> dict[str, Any]:
    return {"type": "wallet", "provider": provider, "token": token}


def paypal(payer_email: str = "grace@example.com") -> dict[str, Any]:
    return {"type": "paypal", "payer_email": payer_email}


async def held_booking(
    client: httpx.AsyncClient,
    staff_headers: dict[str, str],
    headers: dict[str, str],
    **flight_overrides: Any,
) -> dict[str, Any]:
    """A one-passenger booking on hold (JFK → LHR in three days, USD 450.00)."""
    flight = await future_flight(client, staff_headers, **flight_overrides)
    return await book(client, headers, booking_body([flight["id"]]))


async def pay(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    booking_id: str,
    method: dict[str, Any] | None = None,
    **extra: Any,
) -> httpx.Response:
    body = {"booking_id": booking_id, "method": method or card(), **extra}
    return await client.post("/payments", json=body, headers=headers)


async def paid(
    client: httpx.AsyncClient, headers: dict[str, str], booking_id: str
) -> dict[str, Any]:
    response = await pay(client, headers, booking_id)
    assert response.status_code == 201, response.text
    assert response.json()["status"] == "succeeded", response.text
    body: dict[str, Any] = response.json()
    return body


async def booking_status(
    client: httpx.AsyncClient, headers: dict[str, str], booking_id: str
) -> str:
    response = await client.get(f"/bookings/{booking_id}", headers=headers)
    assert response.status_code == 200, response.text
    status: str = response.json()["status"]
    return status


def fresh_headers(app: FastAPI, user: TestUser) -> dict[str, str]:
    """Bearer headers issued now (after the clock moved past the first token's lifetime)."""
    token, _ = issue_access_token(app.state.settings, user.id, user.role)
    return {"Authorization": f"Bearer {token}"}


async def payment_rows(db: AsyncSession, booking_id: str) -> list[Any]:
    return await fetch_rows(
        db, "SELECT * FROM payments WHERE booking_id = :b ORDER BY created_at", b=booking_id
    )


async def event_types(db: AsyncSession, aggregate_id: str) -> list[str]:
    rows = await fetch_rows(
        db,
        "SELECT event_type FROM outbox_events WHERE aggregate_id = :a ORDER BY created_at",
        a=aggregate_id,
    )
    return [row[0] for row in rows]


async def reconcile(app: FastAPI) -> list[Reconciled]:
    """Moves the clock past the reconciler's threshold and runs one pass."""
    clock.advance(RECONCILE_AFTER + timedelta(seconds=1))
    return await reconcile_payments(app.state.sessionmaker, older_than=RECONCILE_AFTER)


async def settle_refunds(app: FastAPI) -> list[RefundOutcome]:
    """One pass of the app's refund worker (after any pass already under way)."""
    worker: RefundWorker = app.state.workers["refund-worker"]
    return await worker.refund_due()


async def payment_read(
    client: httpx.AsyncClient, headers: dict[str, str], payment_id: str
) -> dict[str, Any]:
    response = await client.get(f"/payments/{payment_id}", headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def refund_settled(
    app: FastAPI, client: httpx.AsyncClient, headers: dict[str, str], payment_id: str
) -> None:
    """Runs `app`'s refund worker until the payment is refunded, in full or in part. The
    refund a cancellation owes is settled after its commit by any refund worker on the
    database: another app in the same process (the suite's, beside one on MongoDB) may have
    taken it, mid-pass on a loaded machine, so one pass of this app's may skip it."""
    for _ in range(120):
        await settle_refunds(app)
        status = (await payment_read(client, headers, payment_id))["status"]
        if status in ("refunded", "partially_refunded"):
            return
        await asyncio.sleep(0.25)
    raise AssertionError("the refund was not settled within 30 s")


async def add_processing_attempt(
    db: AsyncSession,
    booking: dict[str, Any],
    user: TestUser,
    *,
    charge_id: str | None = None,
    gateway: str = "sandbox",
    idempotency_key: str | None = None,
    age: timedelta = timedelta(minutes=5),
) -> Payment:
    """A `processing` attempt as a server that died mid-payment leaves it."""
    at = utcnow() - age
    payment = Payment(
        id=new_id(),
        booking_id=booking["id"],
        user_id=user.id,
        pnr=booking["pnr"],
        amount=booking["total_price"]["amount"],
        currency=booking["total_price"]["currency"],
        status="processing",
        method_type="card",
        last4="4242",
        exp_month=12,
        exp_year=utcnow().year + 2,
        gateway=gateway,
        charge_id=charge_id,
        refunded_amount=0,
        idempotency_key=idempotency_key,
        created_at=at,
        updated_at=at,
    )
    db.add(payment)
    await db.commit()
    return payment


async def refund_rows(db: AsyncSession, payment_id: str) -> list[PaymentRefund]:
    """The payment's refund rows, detached (the read transaction is ended)."""
    try:
        result = await db.scalars(
            select(PaymentRefund)
            .where(PaymentRefund.payment_id == payment_id)
            .order_by(PaymentRefund.created_at)
            .execution_options(populate_existing=True)
        )
        rows = list(result.all())
        db.expunge_all()
        return rows
    finally:
        await db.rollback()
