"""The Stripe gateway (official SDK) against a real Stripe-API server (localstripe)."""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import time

import httpx
import pytest
from fastapi import FastAPI

from flightdeck.payments.gateways.base import (
    GatewayRefused,
    GatewayResult,
    GatewayUnavailable,
    InvalidWebhook,
)
from flightdeck.payments.gateways.stripe_gateway import StripeGateway
from flightdeck.payments.schemas import CardMethod, WalletMethod
from flightdeck.platform.money import Money
from tests.conftest import TestUser
from tests.payments.conftest import WEBHOOK_SECRET
from tests.payments.factories import (
    THREE_D_SECURE,
    booking_status,
    card,
    held_booking,
    pay,
    payment_read,
    settle_refunds,
)
from tests.payments.localstripe_server import API_KEY, authenticate_3ds

pytestmark = pytest.mark.asyncio(loop_scope="session")
USD = Money(amount=45000, currency="USD")


async def charge(
    gateway: StripeGateway, method: CardMethod | WalletMethod, key: str
) -> GatewayResult:
    """Creates the PaymentIntent, then confirms it (as the payment service does)."""
    created = await gateway.create_charge(USD, method, key, reference=f"payment-{key}")
    assert created.status == "not_confirmed", created
    assert created.charge_id is not None and created.charge_id.startswith("pi_")
    return await gateway.confirm_charge(created.charge_id, f"{key}-confirm")


async def test_a_good_card_is_charged_through_a_payment_intent(
    stripe_gateway: StripeGateway,
) -> None:
    method = CardMethod.model_validate(card())
    created = await stripe_gateway.create_charge(USD, method, "key-1", reference="payment-1")
    assert created.status == "not_confirmed"
    assert created.charge_id is not None and created.charge_id.startswith("pi_")
    assert (created.brand, created.last4, created.exp_month) == ("visa", "4242", 12)
    result = await stripe_gateway.confirm_charge(created.charge_id, "key-1-confirm")
    assert (result.status, result.charge_id) == ("succeeded", created.charge_id)


async def test_a_declined_card_fails_with_card_declined(stripe_gateway: StripeGateway) -> None:
    declined = CardMethod.model_validate(card("4000000000000341"))
    result = await charge(stripe_gateway, declined, "key-2")
    assert result.status == "failed"
    assert result.failure_code == "card_declined"


async def test_a_wallet_payment_method_id_is_charged(stripe_gateway: StripeGateway) -> None:
    wallet = WalletMethod(type="wallet", provider="google_pay", token="pm_card_visa")
    result = await charge(stripe_gateway, wallet, "key-3")
    assert result.status == "succeeded"


async def test_3ds_requires_action_until_the_customer_authenticates(
    stripe_gateway: StripeGateway, localstripe_url: str
) -> None:
    method = CardMethod.model_validate(card(THREE_D_SECURE))
    result = await charge(stripe_gateway, method, "key-4")
    assert result.status == "requires_action" and result.charge_id is not None
    still = await stripe_gateway.complete_action(result.charge_id, "key-4-confirm")
    assert still.status == "requires_action"
    intent = await stripe_gateway.client.v1.payment_intents.retrieve_async(result.charge_id)
    assert intent.client_secret is not None
    authenticate_3ds(localstripe_url, result.charge_id, intent.client_secret)
    done = await stripe_gateway.complete_action(result.charge_id, "key-4-confirm")
    assert done.status == "succeeded"


async def test_a_refund_pays_part_of_the_intent_back(stripe_gateway: StripeGateway) -> None:
    result = await charge(stripe_gateway, CardMethod.model_validate(card()), "key-5")
    assert result.charge_id is not None
    half = Money(amount=22500, currency="USD")
    refund = await stripe_gateway.refund(result.charge_id, half, "refund-5")
    assert refund.refund_id.startswith("re_") and refund.amount == half


async def test_an_unknown_intent_is_a_refusal_not_an_outage(
    stripe_gateway: StripeGateway,
) -> None:
    # Stripe answered (404): the breaker must not count it as an outage.
    with pytest.raises(GatewayRefused):
        await stripe_gateway.retrieve("pi_" + "0" * 24)
    with pytest.raises(GatewayRefused):
        await stripe_gateway.refund("pi_" + "0" * 24, USD, "refund-unknown")


async def test_an_unreachable_stripe_is_gateway_unavailable() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    gateway = StripeGateway(api_key=API_KEY, api_base=f"http://127.0.0.1:{port}")
    with pytest.raises(GatewayUnavailable):
        await gateway.create_charge(USD, CardMethod.model_validate(card()), "key-6", "p-6")
    with pytest.raises(GatewayUnavailable):
        await gateway.retrieve("pi_anything")
    with pytest.raises(GatewayUnavailable):
        await gateway.cancel("pi_anything", "key-6-cancel")


def stripe_signature(body: bytes, secret: str, timestamp: int) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={digest.hexdigest()}"


async def test_stripe_webhooks_are_verified_with_stripe_signature(
    stripe_gateway: StripeGateway,
) -> None:
    body = json.dumps(
        {
            "id": "evt_1",
            "object": "event",
            "type": "charge.dispute.created",
            "data": {"object": {"id": "dp_1", "object": "dispute", "payment_intent": "pi_9"}},
        }
    ).encode()
    now = int(time.time())
    headers = {"Stripe-Signature": stripe_signature(body, WEBHOOK_SECRET, now)}
    event = stripe_gateway.parse_webhook(body, headers)
    assert (event.id, event.type, event.charge_id) == ("evt_1", "charge.dispute.created", "pi_9")
    with pytest.raises(InvalidWebhook):
        stripe_gateway.parse_webhook(body, {"Stripe-Signature": stripe_signature(body, "x", now)})
    stale = {"Stripe-Signature": stripe_signature(body, WEBHOOK_SECRET, now - 600)}
    with pytest.raises(InvalidWebhook) as caught:
        stripe_gateway.parse_webhook(body, stale)
    assert caught.value.stale


async def test_paying_and_refunding_through_the_api_with_stripe(
    app: FastAPI,
    client: httpx.AsyncClient,
    agent: TestUser,
    passenger: TestUser,
    stripe_behind_api: StripeGateway,
) -> None:
    booking = await held_booking(client, agent.headers, passenger.headers)
    response = await pay(client, passenger.headers, booking["id"])
    assert response.status_code == 201, response.text
    payment = response.json()
    assert payment["status"] == "succeeded"
    assert payment["method"]["brand"] == "visa" and payment["method"]["last4"] == "4242"
    assert await booking_status(client, passenger.headers, booking["id"]) == "confirmed"
    cancelled = await client.delete(f"/bookings/{booking['id']}", headers=passenger.headers)
    assert cancelled.status_code == 200, cancelled.text
    await settle_refunds(app)
    after = await payment_read(client, passenger.headers, payment["id"])
    assert after["status"] == "refunded"
    assert [r["status"] for r in after["refunds"]] == ["succeeded"]


async def test_a_created_intent_moves_no_money_and_can_be_retrieved_and_cancelled(
    stripe_gateway: StripeGateway,
) -> None:
    method = CardMethod.model_validate(card())
    created = await stripe_gateway.create_charge(USD, method, "key-7", reference="payment-7")
    assert created.status == "not_confirmed" and created.charge_id is not None
    assert (created.brand, created.last4) == ("visa", "4242")
    intent = await stripe_gateway.client.v1.payment_intents.retrieve_async(created.charge_id)
    assert intent.metadata is not None
    assert intent.metadata.to_dict() == {"flightdeck_payment": "payment-7"}
    assert (await stripe_gateway.retrieve(created.charge_id)).status == "not_confirmed"
    cancelled = await stripe_gateway.cancel(created.charge_id, "key-7-cancel")
    assert cancelled.status == "canceled"
    assert (await stripe_gateway.retrieve(created.charge_id)).status == "canceled"
    # A cancelled intent cannot be confirmed any more: nothing is ever charged.
    late = await stripe_gateway.confirm_charge(created.charge_id, "key-7-confirm")
    assert late.status == "canceled"


async def test_a_succeeded_intent_cannot_be_cancelled_and_says_so(
    stripe_gateway: StripeGateway,
) -> None:
    result = await charge(stripe_gateway, CardMethod.model_validate(card()), "key-8")
    assert result.status == "succeeded" and result.charge_id is not None
    assert (await stripe_gateway.retrieve(result.charge_id)).status == "succeeded"
    assert (await stripe_gateway.cancel(result.charge_id, "key-8-cancel")).status == "succeeded"


async def test_retrieve_reports_a_decline_and_3ds_and_cancel_voids_3ds(
    stripe_gateway: StripeGateway,
) -> None:
    declined = await charge(
        stripe_gateway, CardMethod.model_validate(card("4000000000000341")), "k9"
    )
    assert declined.charge_id is not None
    state = await stripe_gateway.retrieve(declined.charge_id)
    assert (state.status, state.failure_code) == ("failed", "card_declined")
    waiting = await charge(stripe_gateway, CardMethod.model_validate(card(THREE_D_SECURE)), "k10")
    assert waiting.status == "requires_action" and waiting.charge_id is not None
    assert (await stripe_gateway.retrieve(waiting.charge_id)).status == "requires_action"
    assert (await stripe_gateway.cancel(waiting.charge_id, "k10-cancel")).status == "canceled"
