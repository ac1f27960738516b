"""POST /payments/webhooks/{provider}: signed, fresh, once."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from flightdeck.payments.gateways.sandbox import SIGNATURE_HEADER, SandboxGateway, sign_webhook
from flightdeck.platform.clock import utcnow
from tests.conftest import TestUser, assert_error
from tests.payments.conftest import WEBHOOK_SECRET
from tests.payments.factories import (
    THREE_D_SECURE,
    booking_status,
    card,
    event_types,
    held_booking,
    paid,
    pay,
)

pytestmark = pytest.mark.asyncio(loop_scope="session")
URL = "/payments/webhooks/sandbox"


def event_body(event_id: str, event_type: str, charge_id: str) -> bytes:
    return json.dumps(
        {"id": event_id, "type": event_type, "data": {"object": {"id": charge_id}}}
    ).encode()


async def post_event(
    client: httpx.AsyncClient, body: bytes, *, secret: str = WEBHOOK_SECRET, age: int = 0
) -> httpx.Response:
    stamp = int(utcnow().timestamp()) - age
    headers = {SIGNATURE_HEADER: sign_webhook(secret, body, stamp)}
    return await client.post(URL, content=body, headers=headers)


async def requires_action(
    client: httpx.AsyncClient, agent: TestUser, passenger: TestUser, sandbox: SandboxGateway
) -> tuple[dict[str, Any], dict[str, Any], str]:
    booking = await held_booking(client, agent.headers, passenger.headers)
    response = await pay(client, passenger.headers, booking["id"], card(THREE_D_SECURE))
    assert response.json()["status"] == "requires_action", response.text
    return booking, response.json(), next(iter(sandbox.ledger))


async def test_a_signed_succeeded_event_completes_a_3ds_payment_once(
    client: httpx.AsyncClient,
    db: AsyncSession,
    agent: TestUser,
    passenger: TestUser,
    sandbox: SandboxGateway,
) -> None:
    booking, payment, charge_id = await requires_action(client, agent, passenger, sandbox)
    body = event_body("evt_1", "payment_intent.succeeded", charge_id)
    response = await post_event(client, body)
    assert response.status_code == 200, response.text
    assert response.json() == {"status": "processed"}
    assert await booking_status(client, passenger.headers, booking["id"]) == "confirmed"
    got = await client.get(f"/payments/{payment['id']}", headers=passenger.headers)
    assert got.json()["status"] == "succeeded"
    replay = await post_event(client, body)
    assert replay.status_code == 200 and replay.json() == {"status": "duplicate"}
    assert await event_types(db, payment["id"]) == ["payment.succeeded"]


async def test_a_bad_signature_is_400_and_changes_nothing(
    client: httpx.AsyncClient, agent: TestUser, passenger: TestUser, sandbox: SandboxGateway
) -> None:
    booking, _, charge_id = await requires_action(client, agent, passenger, sandbox)
    body = event_body("evt_2", "payment_intent.succeeded", charge_id)
    assert_error(await post_event(client, body, secret="not-the-secret"), 400, "invalid_signature")
    assert_error(await client.post(URL, content=body), 400, "invalid_signature")
    tampered = {SIGNATURE_HEADER: sign_webhook(WEBHOOK_SECRET, body)}
    response = await client.post(URL, content=body + b" ", headers=tampered)
    assert_error(response, 400, "invalid_signature")
    assert await booking_status(client, passenger.headers, booking["id"]) == "pending_payment"
    # The event was not recorded: once properly signed it is processed.
    assert (await post_event(client, body)).json() == {"status": "processed"}


async def test_a_stale_event_is_400(
    client: httpx.AsyncClient, agent: TestUser, passenger: TestUser, sandbox: SandboxGateway
) -> None:
    booking, _, charge_id = await requires_action(client, agent, passenger, sandbox)
    body = event_body("evt_3", "payment_intent.succeeded", charge_id)
    old = int(timedelta(minutes=6).total_seconds())
    assert_error(await post_event(client, body, age=old), 400, "stale_webhook")
    assert await booking_status(client, passenger.headers, booking["id"]) == "pending_payment"


async def test_a_dispute_marks_the_payment_disputed(
    client: httpx.AsyncClient,
    db: AsyncSession,
    agent: TestUser,
    passenger: TestUser,
    sandbox: SandboxGateway,
) -> None:
    booking = await held_booking(client, agent.headers, passenger.headers)
    payment = await paid(client, passenger.headers, booking["id"])
    body = event_body("evt_4", "charge.dispute.created", next(iter(sandbox.charges)))
    assert (await post_event(client, body)).json() == {"status": "processed"}
    got = await client.get(f"/payments/{payment['id']}", headers=passenger.headers)
    assert got.json()["status"] == "disputed"
    assert await event_types(db, payment["id"]) == ["payment.succeeded", "payment.disputed"]


async def test_an_event_for_an_unknown_charge_or_provider(
    client: httpx.AsyncClient, sandbox: SandboxGateway
) -> None:
    body = event_body("evt_5", "payment_intent.succeeded", "ch_unknown")
    assert (await post_event(client, body)).json() == {"status": "ignored"}
    response = await client.post("/payments/webhooks/nope", content=body)
    assert_error(response, 404, "unknown_payment_provider")


async def test_without_a_webhook_secret_webhooks_answer_404_feature_not_configured(
    client: httpx.AsyncClient,
) -> None:
    # The app's own gateway: the suite's settings configure no webhook secret.
    body = event_body("evt_6", "payment_intent.succeeded", "ch_1")
    response = await post_event(client, body)
    assert_error(response, 404, "feature_not_configured")
