"""The Stripe gateway (official SDK) against a real Stripe-API server (localstripe)."""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import time
from collections.abc import Iterator

import httpx
import pytest
from fastapi import FastAPI

from flightdeck.payments.gateways import configure_gateway
from flightdeck.payments.gateways.base import GatewayUnavailable, InvalidWebhook
from flightdeck.payments.gateways.stripe_gateway import StripeGateway
from flightdeck.payments.schemas import CardMethod, WalletMethod
from flightdeck.platform.money import Money
from tests.conftest import TestUser
from tests.payments.conftest import WEBHOOK_SECRET, guarded
from tests.payments.factories import THREE_D_SECURE, booking_status, card, held_booking, pay
from tests.payments.localstripe_server import API_KEY, authenticate_3ds

pytestmark = pytest.mark.asyncio(loop_scope="session")
USD = Money(amount=45000, currency="USD")


@pytest.fixture
def stripe_gateway(localstripe_url: str) -> StripeGateway:
    return StripeGateway(api_key=API_KEY, api_base=localstripe_url, webhook_secret=WEBHOOK_SECRET)


@pytest.fixture
def stripe_behind_api(app: FastAPI, stripe_gateway: StripeGateway) -> Iterator[StripeGateway]:
    previous = configure_gateway(guarded(stripe_gateway))
    try:
        yield stripe_gateway
    finally:
        configure_gateway(previous)


async def test_a_good_card_is_charged_through_a_payment_intent(
    stripe_gateway: StripeGateway,
) -> None:
    result = await stripe_gateway.authorize_and_capture(
        USD, CardMethod.model_validate(card()), "key-1"
    )
    assert result.status == "succeeded"
    assert result.charge_id is not None and result.charge_id.startswith("pi_")
    assert (result.brand, result.last4, result.exp_month) == ("visa", "4242", 12)


async def test_a_declined_card_fails_with_card_declined(stripe_gateway: StripeGateway) -> None:
    declined = CardMethod.model_validate(card("4000000000000341"))
    result = await stripe_gateway.authorize_and_capture(USD, declined, "key-2")
    assert result.status == "failed"
    assert result.failure_code == "card_declined"


async def test_a_wallet_payment_method_id_is_charged(stripe_gateway: StripeGateway) -> None:
    wallet = WalletMethod(type="wallet", provider="google_pay", token="pm_card_visa")
    result = await stripe_gateway.authorize_and_capture(USD, wallet, "key-3")
    assert result.status == "succeeded"


async def test_3ds_requires_action_until_the_customer_authenticates(
    stripe_gateway: StripeGateway, localstripe_url: str
) -> None:
    method = CardMethod.model_validate(card(THREE_D_SECURE))
    result = await stripe_gateway.authorize_and_capture(USD, method, "key-4")
    assert result.status == "requires_action" and result.charge_id is not None
    still = await stripe_gateway.complete_action(result.charge_id, "key-4-confirm")
    assert still.status == "requires_action"
    intent = await stripe_gateway.client.v1.payment_intents.retrieve_async(result.charge_id)
    assert intent.client_secret is not None
    authenticate_3ds(localstripe_url, result.charge_id, intent.client_secret)
    done = await stripe_gateway.complete_action(result.charge_id, "key-4-confirm")
    assert done.status == "succeeded"


async def test_a_refund_pays_part_of_the_intent_back(stripe_gateway: StripeGateway) -> None:
    result = await stripe_gateway.authorize_and_capture(
        USD, CardMethod.model_validate(card()), "key-5"
    )
    assert result.charge_id is not None
    half = Money(amount=22500, currency="USD")
    refund = await stripe_gateway.refund(result.charge_id, half, "refund-5")
    assert refund.refund_id.startswith("re_") and refund.amount == half


async def test_an_unreachable_stripe_is_gateway_unavailable() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    gateway = StripeGateway(api_key=API_KEY, api_base=f"http://127.0.0.1:{port}")
    with pytest.raises(GatewayUnavailable):
        await gateway.authorize_and_capture(USD, CardMethod.model_validate(card()), "key-6")


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
    after = await client.get(f"/payments/{payment['id']}", headers=passenger.headers)
    assert after.json()["status"] == "refunded"
