"""A charge whose answer is lost: 202 `processing`, never paid twice, settled by the reconciler."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from flightdeck.payments.gateways.sandbox import SandboxGateway
from flightdeck.payments.reconciler import reconcile_payments
from flightdeck.payments.schemas import PaymentCreate
from flightdeck.payments.service import claim_scope
from flightdeck.platform.clock import clock, utcnow
from flightdeck.platform.db import new_id
from flightdeck.platform.idempotency import KEY_LIFETIME, IdempotencyKey, request_fingerprint
from flightdeck.platform.security.digests import digest_keys
from tests.conftest import TestUser, assert_error
from tests.payments.factories import (
    RECONCILE_AFTER,
    TIMES_OUT,
    VISA_OK,
    add_processing_attempt,
    booking_status,
    card,
    event_types,
    fresh_headers,
    held_booking,
    pay,
    payment_read,
    payment_rows,
    paypal,
    reconcile,
    settle_refunds,
    wallet,
)
from tests.payments.test_webhooks import event_body, post_event

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_charged_but_the_answer_lost_is_202_then_the_reconciler_confirms_it_charging_once(
    app: FastAPI,
    client: httpx.AsyncClient,
    db: AsyncSession,
    agent: TestUser,
    passenger: TestUser,
    sandbox: SandboxGateway,
) -> None:
    booking = await held_booking(client, agent.headers, passenger.headers)
    headers = {**passenger.headers, "Idempotency-Key": "lost-answer-1"}
    response = await pay(client, headers, booking["id"], card(TIMES_OUT))
    assert response.status_code == 202, response.text
    payment = response.json()
    assert payment["status"] == "processing" and payment["failure_code"] is None
    assert sandbox.charge_count == 1  # the processor took the money
    assert await booking_status(client, passenger.headers, booking["id"]) == "pending_payment"
    (row,) = await payment_rows(db, booking["id"])
    assert row.charge_id == next(iter(sandbox.charges))  # stored before the confirmation
    # The customer tries again: no second charge while the first is unsettled.
    again = await pay(client, passenger.headers, booking["id"], card(VISA_OK))
    assert_error(again, 409, "payment_in_progress")
    # The same request replays the 202 (the key is kept).
    replay = await pay(client, headers, booking["id"], card(TIMES_OUT))
    assert replay.status_code == 202 and replay.json() == payment
    assert replay.headers["Idempotent-Replayed"] == "true"
    # Too young for the reconciler: a request may still be waiting for the answer.
    young = await reconcile_payments(app.state.sessionmaker, older_than=RECONCILE_AFTER)
    assert young == []

    (settled,) = await reconcile(app)
    assert (settled.payment_id, settled.status) == (payment["id"], "succeeded")
    after = await payment_read(client, fresh_headers(app, passenger), payment["id"])
    assert after["status"] == "succeeded"
    assert after["method"]["brand"] == "visa" and after["method"]["last4"] == "0119"
    assert await booking_status(client, passenger.headers, booking["id"]) == "confirmed"
    assert await event_types(db, payment["id"]) == ["payment.succeeded"]
    assert "booking.confirmed" in await event_types(db, booking["id"])
    assert sandbox.charge_count == len(sandbox.ledger) == 1  # one charge, taken once
    assert await reconcile(app) == []  # settled: nothing left to do


@pytest.mark.parametrize("method", [wallet("tok_timeout"), paypal("timeout@example.com")])
async def test_a_confirmation_lost_without_charging_is_cancelled_failed_and_may_be_retried(
    app: FastAPI,
    client: httpx.AsyncClient,
    db: AsyncSession,
    agent: TestUser,
    passenger: TestUser,
    sandbox: SandboxGateway,
    method: dict[str, object],
) -> None:
    booking = await held_booking(client, agent.headers, passenger.headers)
    headers = {**passenger.headers, "Idempotency-Key": "lost-answer-2"}
    response = await pay(client, headers, booking["id"], method)
    assert response.status_code == 202, response.text
    payment = response.json()
    assert payment["status"] == "processing"
    assert sandbox.charge_count == 0

    (settled,) = await reconcile(app)
    assert (settled.payment_id, settled.status) == (payment["id"], "failed")
    after = await payment_read(client, fresh_headers(app, passenger), payment["id"])
    assert (after["status"], after["failure_code"]) == ("failed", "gateway_unavailable")
    (charge,) = sandbox.ledger.values()
    assert charge.status == "canceled"  # voided: it can never be confirmed now
    assert await event_types(db, payment["id"]) == ["payment.failed"]
    assert await booking_status(client, passenger.headers, booking["id"]) == "pending_payment"
    # A new attempt is allowed; the key was freed (nothing was charged for it).
    retry = await pay(client, {**headers, **fresh_headers(app, passenger)}, booking["id"])
    assert retry.status_code == 201, retry.text
    assert retry.json()["status"] == "succeeded" and retry.json()["id"] != payment["id"]
    assert sandbox.charge_count == 1


async def test_an_attempt_a_crash_left_without_a_charge_id_is_failed_and_its_key_freed(
    app: FastAPI,
    client: httpx.AsyncClient,
    db: AsyncSession,
    agent: TestUser,
    passenger: TestUser,
    sandbox: SandboxGateway,
) -> None:
    booking = await held_booking(client, agent.headers, passenger.headers)
    body = {"booking_id": booking["id"], "method": card()}
    # The server died after committing the attempt and the key's claim, before any answer.
    now = utcnow()
    db.add(
        IdempotencyKey(
            id=new_id(),
            scope=claim_scope(passenger.id),
            key="crash-1",
            request_hash=digest_keys().digest(
                request_fingerprint(PaymentCreate.model_validate(body).fingerprint_body())
            ),
            created_at=now,
            expires_at=now + KEY_LIFETIME,
        )
    )
    crashed = await add_processing_attempt(db, booking, passenger, idempotency_key="crash-1")
    headers = {**passenger.headers, "Idempotency-Key": "crash-1"}
    assert_error(await pay(client, headers, booking["id"]), 409, "idempotency_request_in_progress")
    assert_error(await pay(client, passenger.headers, booking["id"]), 409, "payment_in_progress")

    (settled,) = await reconcile(app)
    assert (settled.payment_id, settled.status) == (crashed.id, "failed")
    rows = await payment_rows(db, booking["id"])
    assert [(r.status, r.failure_code) for r in rows] == [("failed", "gateway_unavailable")]
    assert sandbox.ledger == {}  # the processor was never asked
    retry = await pay(client, {**headers, **fresh_headers(app, passenger)}, booking["id"])
    assert retry.status_code == 201, retry.text
    assert retry.json()["status"] == "succeeded"
    assert sandbox.charge_count == 1


async def test_a_charge_found_after_the_hold_expired_is_paid_back_by_the_refund_worker(
    app: FastAPI,
    client: httpx.AsyncClient,
    db: AsyncSession,
    agent: TestUser,
    passenger: TestUser,
    sandbox: SandboxGateway,
) -> None:
    booking = await held_booking(client, agent.headers, passenger.headers)
    response = await pay(client, passenger.headers, booking["id"], card(TIMES_OUT))
    assert response.status_code == 202, response.text
    payment = response.json()
    clock.advance(timedelta(minutes=app.state.settings.hold_minutes + 1))
    (settled,) = await reconcile(app)
    assert settled.status == "succeeded" and "refunded" in settled.detail
    await settle_refunds(app)
    headers = fresh_headers(app, passenger)
    after = await payment_read(client, headers, payment["id"])
    assert after["status"] == "refunded"
    assert after["refunded_amount"] == {"amount": 45000, "currency": "USD"}
    assert [(r["status"], r["reason"]) for r in after["refunds"]] == [
        ("succeeded", "booking_not_confirmable")
    ]
    assert sandbox.charge_count == 1 and sandbox.refund_count == 1
    assert sandbox.charges[next(iter(sandbox.charges))].refunded == 45000
    assert await booking_status(client, headers, booking["id"]) != "confirmed"


async def test_while_the_gateway_is_down_the_attempt_waits_for_the_next_pass(
    app: FastAPI,
    client: httpx.AsyncClient,
    agent: TestUser,
    passenger: TestUser,
    patient_sandbox: SandboxGateway,
) -> None:
    booking = await held_booking(client, agent.headers, passenger.headers)
    payment = (await pay(client, passenger.headers, booking["id"], card(TIMES_OUT))).json()
    patient_sandbox.outage = True
    (left,) = await reconcile(app)
    assert (left.payment_id, left.status) == (payment["id"], "processing")
    headers = fresh_headers(app, passenger)
    assert (await payment_read(client, headers, payment["id"]))["status"] == "processing"
    patient_sandbox.outage = False
    (settled,) = await reconcile(app)
    assert settled.status == "succeeded"
    assert await booking_status(client, headers, booking["id"]) == "confirmed"


async def test_reconcilers_in_several_servers_at_once_settle_an_attempt_once(
    app: FastAPI,
    client: httpx.AsyncClient,
    db: AsyncSession,
    agent: TestUser,
    passenger: TestUser,
    sandbox: SandboxGateway,
) -> None:
    booking = await held_booking(client, agent.headers, passenger.headers)
    payment = (await pay(client, passenger.headers, booking["id"], card(TIMES_OUT))).json()
    clock.advance(RECONCILE_AFTER * 2)
    passes = await asyncio.gather(
        *(reconcile_payments(app.state.sessionmaker, older_than=RECONCILE_AFTER) for _ in range(3))
    )
    assert [r.status for results in passes for r in results] == ["succeeded"]
    assert await event_types(db, payment["id"]) == ["payment.succeeded"]
    booking_events = await event_types(db, booking["id"])
    assert booking_events.count("booking.confirmed") == 1
    assert sandbox.charge_count == 1


async def test_the_processors_webhook_settles_a_processing_payment_at_once(
    app: FastAPI,
    client: httpx.AsyncClient,
    agent: TestUser,
    passenger: TestUser,
    sandbox: SandboxGateway,
) -> None:
    booking = await held_booking(client, agent.headers, passenger.headers)
    payment = (await pay(client, passenger.headers, booking["id"], card(TIMES_OUT))).json()
    body = event_body("evt_lost_1", "payment_intent.succeeded", next(iter(sandbox.charges)))
    assert (await post_event(client, body)).json() == {"status": "processed"}
    after = await payment_read(client, passenger.headers, payment["id"])
    assert after["status"] == "succeeded"
    assert await booking_status(client, passenger.headers, booking["id"]) == "confirmed"
    assert await reconcile(app) == []


async def test_a_request_that_stalls_past_the_reconciler_never_confirms_its_charge(
    app: FastAPI,
    client: httpx.AsyncClient,
    db: AsyncSession,
    agent: TestUser,
    passenger: TestUser,
    sandbox: SandboxGateway,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The reconciler settles an attempt with no charge id as `failed` (nothing can have
    been charged). If the request was only slow, and its charge is created after that, it
    must not go on to confirm it: the customer would pay for a failed payment."""
    booking = await held_booking(client, agent.headers, passenger.headers)
    create = sandbox.create_charge
    settled_meanwhile = []

    async def slow_create(*args: object, **kwargs: object) -> object:
        result = await create(*args, **kwargs)  # type: ignore[arg-type]
        settled_meanwhile.extend(await reconcile(app))  # the request stalls past the threshold
        return result

    monkeypatch.setattr(sandbox, "create_charge", slow_create)
    response = await pay(client, passenger.headers, booking["id"])
    assert [r.status for r in settled_meanwhile] == ["failed"]
    assert response.status_code == 201, response.text
    assert response.json()["status"] == "failed"
    assert response.json()["failure_code"] == "gateway_unavailable"
    assert sandbox.charge_count == 0  # created at the processor, never confirmed
    assert [r.status for r in await payment_rows(db, booking["id"])] == ["failed"]
    assert await booking_status(client, passenger.headers, booking["id"]) == "pending_payment"
