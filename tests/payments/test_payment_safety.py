"""Money safety: idempotent replays, double submits charge once, the circuit breaker."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from flightdeck.payments.gateways.sandbox import SandboxGateway
from tests.conftest import TestUser, assert_error, assert_unavailable
from tests.payments.conftest import BREAKER_RESET, BREAKER_THRESHOLD
from tests.payments.factories import (
    booking_status,
    card,
    held_booking,
    pay,
    payment_rows,
)

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_a_retried_request_with_the_same_key_replays_and_charges_once(
    client: httpx.AsyncClient,
    db: AsyncSession,
    agent: TestUser,
    passenger: TestUser,
    sandbox: SandboxGateway,
) -> None:
    booking = await held_booking(client, agent.headers, passenger.headers)
    headers = {**passenger.headers, "Idempotency-Key": "pay-once-1"}
    first = await pay(client, headers, booking["id"])
    second = await pay(client, headers, booking["id"])
    assert first.status_code == second.status_code == 201
    assert second.json() == first.json()
    assert second.headers["Idempotent-Replayed"] == "true"
    assert sandbox.charge_count == 1
    assert len(await payment_rows(db, booking["id"])) == 1
    other_card = await pay(client, headers, booking["id"], card("5555555555554444"))
    assert_error(other_card, 409, "idempotency_key_reused")


async def test_two_concurrent_payments_for_one_booking_charge_once(
    client: httpx.AsyncClient,
    db: AsyncSession,
    agent: TestUser,
    passenger: TestUser,
    sandbox: SandboxGateway,
) -> None:
    booking = await held_booking(client, agent.headers, passenger.headers)
    responses = await asyncio.gather(
        *(pay(client, passenger.headers, booking["id"]) for _ in range(4))
    )
    statuses = sorted(r.status_code for r in responses)
    assert statuses.count(201) == 1, [r.text for r in responses]
    for response in responses:
        if response.status_code != 201:
            assert_error(response, 409)
            assert response.json()["error"]["code"] in {
                "payment_in_progress",
                "booking_not_payable",
            }
    assert sandbox.charge_count == 1
    rows = await payment_rows(db, booking["id"])
    assert [row.status for row in rows] == ["succeeded"]
    assert await booking_status(client, passenger.headers, booking["id"]) == "confirmed"


async def _failures(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    booking: dict[str, Any],
    sandbox: SandboxGateway,
) -> None:
    sandbox.outage = True
    for _ in range(BREAKER_THRESHOLD):
        response = await pay(client, headers, booking["id"])
        assert_unavailable(response, "payment_gateway_unavailable")
    sandbox.outage = False


async def test_the_breaker_opens_after_failures_fails_fast_and_closes_after_recovery(
    client: httpx.AsyncClient, agent: TestUser, passenger: TestUser, sandbox: SandboxGateway
) -> None:
    booking = await held_booking(client, agent.headers, passenger.headers)
    await _failures(client, passenger.headers, booking, sandbox)
    # Open: even a good card fails fast, without reaching the processor.
    loop = asyncio.get_running_loop()
    started = loop.time()
    response = await pay(client, passenger.headers, booking["id"])
    assert_unavailable(response, "payment_gateway_unavailable")
    assert loop.time() - started < 0.25  # well under the gateway timeout
    assert sandbox.charge_count == 0
    assert await booking_status(client, passenger.headers, booking["id"]) == "pending_payment"
    # After the cool-down one trial call goes through; it succeeds and the breaker closes.
    await asyncio.sleep(BREAKER_RESET + 0.1)
    recovered = await pay(client, passenger.headers, booking["id"])
    assert recovered.status_code == 201, recovered.text
    assert recovered.json()["status"] == "succeeded"
    assert sandbox.charge_count == 1
