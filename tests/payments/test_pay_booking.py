"""POST /payments and GET /payments/{id}: each method and outcome, through the API."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from flightdeck.payments.gateways.sandbox import SandboxGateway
from flightdeck.platform.clock import clock
from tests.conftest import TestUser, assert_error, assert_unavailable
from tests.payments.factories import (
    AMEX_OK,
    DECLINED,
    DISCOVER_OK,
    INSUFFICIENT_FUNDS,
    MASTERCARD_OK,
    VISA_OK,
    booking_status,
    card,
    event_types,
    fresh_headers,
    held_booking,
    paid,
    pay,
    payment_read,
    payment_rows,
    paypal,
    settle_refunds,
    wallet,
)

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_a_good_card_pays_the_booking_and_confirms_it(
    client: httpx.AsyncClient,
    db: AsyncSession,
    agent: TestUser,
    passenger: TestUser,
    sandbox: SandboxGateway,
) -> None:
    booking = await held_booking(client, agent.headers, passenger.headers)
    response = await pay(client, passenger.headers, booking["id"])
    assert response.status_code == 201, response.text
    payment = response.json()
    assert payment["status"] == "succeeded"
    assert payment["booking_id"] == booking["id"]
    assert payment["amount"] == {"amount": 45000, "currency": "USD"}
    assert payment["method"]["type"] == "card"
    assert payment["method"]["brand"] == "visa"
    assert payment["method"]["last4"] == "4242"
    assert payment["failure_code"] is None
    assert await booking_status(client, passenger.headers, booking["id"]) == "confirmed"
    assert await event_types(db, payment["id"]) == ["payment.succeeded"]
    assert "booking.confirmed" in await event_types(db, booking["id"])
    assert sandbox.charge_count == 1


@pytest.mark.parametrize(
    ("method", "code"),
    [
        (card(DECLINED), "card_declined"),
        (card(INSUFFICIENT_FUNDS), "insufficient_funds"),
        (card(exp_month=1, exp_year=2020), "expired_card"),
        (card(cvc="12"), None),  # 422: a CVC is 3 or 4 digits
        (card(cvc="1234"), "incorrect_cvc"),  # a visa's CVC has 3
        (card("4242424242424241"), "invalid_number"),  # fails the Luhn check
        (wallet("tok_decline"), "card_declined"),
        (wallet("tok_insufficient_funds", "google_pay"), "insufficient_funds"),
        (paypal("decline@example.com"), "card_declined"),
    ],
)
async def test_a_declined_payment_fails_with_its_code_and_the_booking_stays_on_hold(
    client: httpx.AsyncClient,
    db: AsyncSession,
    agent: TestUser,
    passenger: TestUser,
    sandbox: SandboxGateway,
    method: dict[str, object],
    code: str | None,
) -> None:
    booking = await held_booking(client, agent.headers, passenger.headers)
    response = await pay(client, passenger.headers, booking["id"], method)
    if code is None:
        assert_error(response, 422, "validation_error")
        assert await payment_rows(db, booking["id"]) == []
        return
    assert response.status_code == 201, response.text
    assert response.json()["status"] == "failed"
    assert response.json()["failure_code"] == code
    assert await booking_status(client, passenger.headers, booking["id"]) == "pending_payment"
    assert sandbox.charge_count == 0
    assert await event_types(db, response.json()["id"]) == ["payment.failed"]
    # Declined: the booking can be paid again with another method.
    await paid(client, passenger.headers, booking["id"])


@pytest.mark.parametrize(
    ("method", "expected"),
    [
        (card(MASTERCARD_OK), {"type": "card", "brand": "mastercard", "last4": "4444"}),
        (card(AMEX_OK, cvc="1234"), {"type": "card", "brand": "amex", "last4": "0005"}),
        (card(DISCOVER_OK), {"type": "card", "brand": "discover", "last4": "1117"}),
        (wallet("tok_success"), {"type": "wallet", "provider": "apple_pay"}),
        (wallet("tok_visa", "google_pay"), {"type": "wallet", "provider": "google_pay"}),
        (paypal("grace@example.com"), {"type": "paypal"}),
    ],
)
async def test_every_method_pays(
    client: httpx.AsyncClient,
    agent: TestUser,
    passenger: TestUser,
    sandbox: SandboxGateway,
    method: dict[str, object],
    expected: dict[str, str],
) -> None:
    booking = await held_booking(client, agent.headers, passenger.headers)
    response = await pay(client, passenger.headers, booking["id"], method)
    assert response.status_code == 201, response.text
    assert response.json()["status"] == "succeeded"
    shown = {k: v for k, v in response.json()["method"].items() if v is not None}
    assert {k: shown[k] for k in expected} == expected
    assert await booking_status(client, passenger.headers, booking["id"]) == "confirmed"


async def test_an_expired_hold_is_409_and_nothing_is_charged(
    app: FastAPI,
    client: httpx.AsyncClient,
    db: AsyncSession,
    agent: TestUser,
    passenger: TestUser,
    sandbox: SandboxGateway,
) -> None:
    booking = await held_booking(client, agent.headers, passenger.headers)
    clock.advance(timedelta(minutes=16))
    response = await pay(client, fresh_headers(app, passenger), booking["id"])
    assert_error(response, 409, "hold_expired")
    assert sandbox.charge_count == 0
    assert await payment_rows(db, booking["id"]) == []


async def test_a_paid_booking_cannot_be_paid_again(
    client: httpx.AsyncClient, agent: TestUser, passenger: TestUser, sandbox: SandboxGateway
) -> None:
    booking = await held_booking(client, agent.headers, passenger.headers)
    await paid(client, passenger.headers, booking["id"])
    assert_error(await pay(client, passenger.headers, booking["id"]), 409, "booking_not_payable")
    assert sandbox.charge_count == 1


async def test_another_users_booking_is_404(
    client: httpx.AsyncClient,
    agent: TestUser,
    passenger: TestUser,
    admin: TestUser,
    sandbox: SandboxGateway,
) -> None:
    booking = await held_booking(client, agent.headers, passenger.headers)
    assert_error(await pay(client, admin.headers, booking["id"]), 404, "booking_not_found")
    assert_error(await pay(client, passenger.headers, "missing"), 404, "booking_not_found")
    assert sandbox.charge_count == 0


async def test_the_amount_if_given_must_be_the_booking_total(
    client: httpx.AsyncClient, agent: TestUser, passenger: TestUser, sandbox: SandboxGateway
) -> None:
    booking = await held_booking(client, agent.headers, passenger.headers)
    wrong = {"amount": 100, "currency": "USD"}
    assert_error(
        await pay(client, passenger.headers, booking["id"], amount=wrong), 422, "amount_mismatch"
    )
    right = {"amount": 45000, "currency": "USD"}
    response = await pay(client, passenger.headers, booking["id"], amount=right)
    assert response.status_code == 201 and response.json()["status"] == "succeeded"


async def test_paying_needs_a_signed_in_user(client: httpx.AsyncClient) -> None:
    response = await client.post("/payments", json={"booking_id": "x", "method": card()})
    assert_error(response, 401)


async def test_the_owner_and_admins_read_a_payment_others_get_404(
    client: httpx.AsyncClient,
    agent: TestUser,
    passenger: TestUser,
    admin: TestUser,
    sandbox: SandboxGateway,
) -> None:
    booking = await held_booking(client, agent.headers, passenger.headers)
    payment = await paid(client, passenger.headers, booking["id"])
    mine = await client.get(f"/payments/{payment['id']}", headers=passenger.headers)
    assert mine.status_code == 200 and mine.json() == payment
    as_admin = await client.get(f"/payments/{payment['id']}", headers=admin.headers)
    assert as_admin.status_code == 200 and as_admin.json()["id"] == payment["id"]
    assert_error(await client.get(f"/payments/{payment['id']}", headers=agent.headers), 404)
    assert_error(await client.get("/payments/missing", headers=passenger.headers), 404)


async def test_three_d_secure_requires_action_then_confirm_completes_it(
    client: httpx.AsyncClient,
    db: AsyncSession,
    agent: TestUser,
    passenger: TestUser,
    sandbox: SandboxGateway,
) -> None:
    from tests.payments.factories import THREE_D_SECURE

    booking = await held_booking(client, agent.headers, passenger.headers)
    response = await pay(client, passenger.headers, booking["id"], card(THREE_D_SECURE))
    assert response.status_code == 201, response.text
    payment = response.json()
    assert payment["status"] == "requires_action"
    assert payment["next_action"] == {
        "type": "confirm",
        "url": f"/payments/{payment['id']}/confirm",
    }
    assert await booking_status(client, passenger.headers, booking["id"]) == "pending_payment"
    # A second attempt while this one waits for the customer is refused.
    assert_error(await pay(client, passenger.headers, booking["id"]), 409, "payment_in_progress")
    assert_error(await client.post(payment["next_action"]["url"], headers=agent.headers), 404)
    confirmed = await client.post(payment["next_action"]["url"], headers=passenger.headers)
    assert confirmed.status_code == 200, confirmed.text
    assert confirmed.json()["status"] == "succeeded"
    assert await booking_status(client, passenger.headers, booking["id"]) == "confirmed"
    assert await event_types(db, payment["id"]) == ["payment.succeeded"]
    again = await client.post(payment["next_action"]["url"], headers=passenger.headers)
    assert_error(again, 409, "payment_not_confirmable")
    assert sandbox.charge_count == 1


async def test_an_unreachable_gateway_is_503_nothing_charged_and_the_key_reusable(
    client: httpx.AsyncClient,
    db: AsyncSession,
    agent: TestUser,
    passenger: TestUser,
    sandbox: SandboxGateway,
) -> None:
    booking = await held_booking(client, agent.headers, passenger.headers)
    headers = {**passenger.headers, "Idempotency-Key": "outage-1"}
    sandbox.outage = True  # the charge cannot even be created
    response = await pay(client, headers, booking["id"])
    assert_unavailable(response, "payment_gateway_unavailable")
    assert sandbox.ledger == {}
    assert await booking_status(client, passenger.headers, booking["id"]) == "pending_payment"
    rows = await payment_rows(db, booking["id"])
    assert [(row.status, row.failure_code) for row in rows] == [("failed", "gateway_unavailable")]
    # The same Idempotency-Key may be retried (nothing was kept for it) and now pays.
    sandbox.outage = False
    retry = await pay(client, headers, booking["id"], card(VISA_OK))
    assert retry.status_code == 201, retry.text
    assert retry.json()["status"] == "succeeded"
    assert sandbox.charge_count == 1


async def test_a_3ds_payment_confirmed_after_the_hold_expired_is_refunded_in_full(
    app: FastAPI,
    client: httpx.AsyncClient,
    db: AsyncSession,
    agent: TestUser,
    passenger: TestUser,
    sandbox: SandboxGateway,
) -> None:
    from tests.payments.factories import THREE_D_SECURE

    booking = await held_booking(client, agent.headers, passenger.headers)
    response = await pay(client, passenger.headers, booking["id"], card(THREE_D_SECURE))
    payment = response.json()
    clock.advance(timedelta(minutes=16))
    headers = fresh_headers(app, passenger)
    late = await client.post(payment["next_action"]["url"], headers=headers)
    assert_error(late, 409, "hold_expired")
    await settle_refunds(app)
    after = await payment_read(client, headers, payment["id"])
    assert after["status"] == "refunded"
    assert after["refunded_amount"] == {"amount": 45000, "currency": "USD"}
    assert [(r["status"], r["reason"]) for r in after["refunds"]] == [
        ("succeeded", "booking_not_confirmable")
    ]
    assert sandbox.charges[next(iter(sandbox.charges))].refunded == 45000
    assert sandbox.refund_count == 1
    assert await event_types(db, payment["id"]) == ["payment.refunded"]
