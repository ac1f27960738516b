"""`flightdeck reconcile-payments` and `flightdeck retry-refunds` against the suite's databases
(and localstripe, for a processor the command can ask)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from flightdeck.payments.gateways.sandbox import SandboxGateway
from flightdeck.payments.gateways.stripe_gateway import StripeGateway
from flightdeck.payments.refund_worker import RefundWorker
from flightdeck.payments.schemas import CardMethod
from flightdeck.platform.money import Money
from flightdeck.platform.settings import Settings
from tests.cli_support import cli_on_database, invoke
from tests.conftest import TestUser
from tests.payments.factories import (
    add_processing_attempt,
    booking_status,
    card,
    held_booking,
    paid,
    pay,
    payment_read,
)
from tests.payments.localstripe_server import API_KEY

pytestmark = pytest.mark.asyncio(loop_scope="session")
USD = Money(amount=45000, currency="USD")


@pytest.fixture
def cli_env(
    settings: Settings, client: httpx.AsyncClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[pytest.MonkeyPatch]:
    """Points the CLI at the test database (emptied after the test by `client`)."""
    with cli_on_database(settings, tmp_path, monkeypatch):
        yield monkeypatch


@pytest.fixture
def stripe_env(cli_env: pytest.MonkeyPatch, localstripe_url: str) -> None:
    cli_env.setenv("FLIGHTDECK_PAYMENT_GATEWAY", "stripe")
    cli_env.setenv("FLIGHTDECK_STRIPE_API_KEY", API_KEY)
    cli_env.setenv("FLIGHTDECK_STRIPE_API_BASE", localstripe_url)


async def test_reconcile_payments_fails_an_attempt_that_never_reached_the_processor(
    cli_env: pytest.MonkeyPatch,
    client: httpx.AsyncClient,
    db: AsyncSession,
    agent: TestUser,
    passenger: TestUser,
    sandbox: SandboxGateway,
) -> None:
    booking = await held_booking(client, agent.headers, passenger.headers)
    crashed = await add_processing_attempt(db, booking, passenger)
    result = await invoke(["reconcile-payments"])
    assert result.exit_code == 0, result.output
    assert f"payment {crashed.id}: failed" in result.output
    after = await payment_read(client, passenger.headers, crashed.id)
    assert (after["status"], after["failure_code"]) == ("failed", "gateway_unavailable")
    assert (await pay(client, passenger.headers, booking["id"])).json()["status"] == "succeeded"
    again = await invoke(["reconcile-payments"])
    assert again.exit_code == 0 and "Nothing to reconcile." in again.output


async def test_reconcile_payments_asks_stripe_completing_a_charge_and_voiding_another(
    stripe_env: None,
    client: httpx.AsyncClient,
    db: AsyncSession,
    agent: TestUser,
    passenger: TestUser,
    stripe_gateway: StripeGateway,
) -> None:
    visa = CardMethod.model_validate(card())
    charged_booking = await held_booking(client, agent.headers, passenger.headers)
    charged = await stripe_gateway.create_charge(USD, visa, "cli-1", reference="cli-1")
    assert charged.charge_id is not None
    await stripe_gateway.confirm_charge(charged.charge_id, "cli-1-confirm")  # answer "lost"
    lost = await add_processing_attempt(
        db, charged_booking, passenger, charge_id=charged.charge_id, gateway="stripe"
    )
    open_booking = await held_booking(
        client, agent.headers, passenger.headers, flight_number="FD777"
    )
    unconfirmed = await stripe_gateway.create_charge(USD, visa, "cli-2", reference="cli-2")
    assert unconfirmed.charge_id is not None
    stuck = await add_processing_attempt(
        db, open_booking, passenger, charge_id=unconfirmed.charge_id, gateway="stripe"
    )

    result = await invoke(["reconcile-payments", "--older-than", "60"])
    assert result.exit_code == 0, result.output
    assert f"payment {lost.id}: succeeded" in result.output
    assert f"payment {stuck.id}: failed (never confirmed: cancelled at the processor)" in (
        result.output
    )
    assert await booking_status(client, passenger.headers, charged_booking["id"]) == "confirmed"
    assert await booking_status(client, passenger.headers, open_booking["id"]) == (
        "pending_payment"
    )
    assert (await stripe_gateway.retrieve(unconfirmed.charge_id)).status == "canceled"


async def test_retry_refunds_makes_the_pending_refunds_through_stripe(
    app: FastAPI,
    stripe_env: None,
    client: httpx.AsyncClient,
    agent: TestUser,
    passenger: TestUser,
    stripe_behind_api: StripeGateway,
    refund_worker: RefundWorker,
) -> None:
    booking = await held_booking(client, agent.headers, passenger.headers)
    payment = await paid(client, passenger.headers, booking["id"])
    response = await client.delete(f"/bookings/{booking['id']}", headers=passenger.headers)
    assert response.status_code == 200, response.text
    (pending,) = (await payment_read(client, passenger.headers, payment["id"]))["refunds"]
    assert pending["status"] == "pending"

    result = await invoke(["retry-refunds"])
    assert result.exit_code == 0, result.output
    assert f"refund {pending['id']} of payment {payment['id']}, 450.00 USD: succeeded" in (
        result.output
    )
    after = await payment_read(client, passenger.headers, payment["id"])
    assert after["status"] == "refunded" and after["refunds"][0]["status"] == "succeeded"
    again = await invoke(["retry-refunds"])
    assert again.exit_code == 0 and "No refund pending." in again.output
