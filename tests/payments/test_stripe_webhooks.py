"""POST /payments/webhooks/stripe with the app paying through Stripe (localstripe): events
signed like Stripe signs them (`Stripe-Signature: t=…,v1=HMAC-SHA256(secret, "t.body")`)."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from flightdeck.payments.gateways.stripe_gateway import StripeGateway
from tests.conftest import TestUser, assert_error
from tests.payments.conftest import WEBHOOK_SECRET
from tests.payments.factories import (
    THREE_D_SECURE,
    booking_status,
    card,
    event_types,
    held_booking,
    pay,
    payment_read,
    payment_rows,
)
from tests.payments.localstripe_server import authenticate_3ds

pytestmark = pytest.mark.asyncio(loop_scope="session")
URL = "/payments/webhooks/stripe"


def stripe_event(event_id: str, event_type: str, obj: dict[str, Any]) -> bytes:
    return json.dumps(
        {"id": event_id, "object": "event", "type": event_type, "data": {"object": obj}}
    ).encode()


def stripe_signature(body: bytes, *, secret: str = WEBHOOK_SECRET, age: int = 0) -> str:
    stamp = int(time.time()) - age  # Stripe's SDK checks against the real clock
    digest = hmac.new(secret.encode(), f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={stamp},v1={digest}"


async def post(client: httpx.AsyncClient, body: bytes, signature: str) -> httpx.Response:
    return await client.post(URL, content=body, headers={"Stripe-Signature": signature})


async def test_a_signed_succeeded_event_completes_a_3ds_payment_once_and_bad_ones_are_refused(
    client: httpx.AsyncClient,
    db: AsyncSession,
    agent: TestUser,
    passenger: TestUser,
    stripe_behind_api: StripeGateway,
    localstripe_url: str,
) -> None:
    booking = await held_booking(client, agent.headers, passenger.headers)
    response = await pay(client, passenger.headers, booking["id"], card(THREE_D_SECURE))
    assert response.status_code == 201, response.text
    payment = response.json()
    assert payment["status"] == "requires_action"
    (row,) = await payment_rows(db, booking["id"])
    intent_id = row.charge_id
    intent = await stripe_behind_api.client.v1.payment_intents.retrieve_async(intent_id)
    assert intent.client_secret is not None
    # The customer passes 3-D Secure; Stripe tells us with a signed event.
    await asyncio.to_thread(authenticate_3ds, localstripe_url, intent_id, intent.client_secret)
    body = stripe_event(
        "evt_3ds_1",
        "payment_intent.succeeded",
        {"id": intent_id, "object": "payment_intent", "status": "succeeded"},
    )

    forged = await post(client, body, stripe_signature(body, secret="whsec_not_ours"))
    assert_error(forged, 400, "invalid_signature")
    stale = await post(client, body, stripe_signature(body, age=600))
    assert_error(stale, 400, "stale_webhook")
    assert_error(await client.post(URL, content=body), 400, "invalid_signature")
    assert (await payment_read(client, passenger.headers, payment["id"]))["status"] == (
        "requires_action"
    )

    accepted = await post(client, body, stripe_signature(body))
    assert accepted.status_code == 200, accepted.text
    assert accepted.json() == {"status": "processed"}
    assert (await payment_read(client, passenger.headers, payment["id"]))["status"] == "succeeded"
    assert await booking_status(client, passenger.headers, booking["id"]) == "confirmed"

    replay = await post(client, body, stripe_signature(body))
    assert replay.status_code == 200 and replay.json() == {"status": "duplicate"}
    assert await event_types(db, payment["id"]) == ["payment.succeeded"]


async def test_a_signed_dispute_marks_the_stripe_payment_disputed(
    client: httpx.AsyncClient,
    db: AsyncSession,
    agent: TestUser,
    passenger: TestUser,
    stripe_behind_api: StripeGateway,
) -> None:
    booking = await held_booking(client, agent.headers, passenger.headers)
    payment = (await pay(client, passenger.headers, booking["id"])).json()
    assert payment["status"] == "succeeded"
    (row,) = await payment_rows(db, booking["id"])
    body = stripe_event(
        "evt_dispute_1",
        "charge.dispute.created",
        {"id": "dp_1", "object": "dispute", "payment_intent": row.charge_id, "amount": 45000},
    )
    response = await post(client, body, stripe_signature(body))
    assert response.status_code == 200 and response.json() == {"status": "processed"}
    assert (await payment_read(client, passenger.headers, payment["id"]))["status"] == "disputed"
    again = await post(client, body, stripe_signature(body))
    assert again.json() == {"status": "duplicate"}
    assert await event_types(db, payment["id"]) == ["payment.succeeded", "payment.disputed"]
