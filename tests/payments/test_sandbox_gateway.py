"""The sandbox processor's two-step charges: create (nothing charged), confirm, retrieve, cancel."""

from __future__ import annotations

import asyncio

import pytest

from flightdeck.payments.gateways.base import GatewayUnavailable
from flightdeck.payments.gateways.sandbox import SandboxGateway
from flightdeck.payments.schemas import CardMethod, PaymentMethodIn, WalletMethod
from flightdeck.platform.money import Money
from tests.payments.factories import DECLINED, TIMES_OUT, card

pytestmark = pytest.mark.asyncio(loop_scope="session")
USD = Money(amount=1000, currency="USD")


async def created(sandbox: SandboxGateway, method: PaymentMethodIn, key: str = "k") -> str:
    result = await sandbox.create_charge(USD, method, key, reference=f"payment-{key}")
    assert result.status == "not_confirmed" and result.charge_id is not None
    assert sandbox.charge_count == 0  # creating moves no money
    return result.charge_id


async def test_the_timing_out_number_charges_and_then_never_answers() -> None:
    sandbox = SandboxGateway()
    charge_id = await created(sandbox, CardMethod.model_validate(card(TIMES_OUT)))
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.05):
            await sandbox.confirm_charge(charge_id, "k-confirm")
    assert sandbox.charge_count == 1
    assert (await sandbox.retrieve(charge_id)).status == "succeeded"
    assert (await sandbox.cancel(charge_id, "k-cancel")).status == "succeeded"  # too late


async def test_a_timing_out_wallet_hangs_without_charging_and_can_be_cancelled() -> None:
    sandbox = SandboxGateway()
    charge_id = await created(
        sandbox, WalletMethod(type="wallet", provider="apple_pay", token="tok_timeout")
    )
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.05):
            await sandbox.confirm_charge(charge_id, "k-confirm")
    assert (await sandbox.retrieve(charge_id)).status == "not_confirmed"
    assert (await sandbox.cancel(charge_id, "k-cancel")).status == "canceled"
    assert (await sandbox.confirm_charge(charge_id, "k-confirm-2")).status == "canceled"
    assert sandbox.charge_count == 0


async def test_a_decline_happens_on_confirmation_and_retrieve_reports_it() -> None:
    sandbox = SandboxGateway()
    charge_id = await created(sandbox, CardMethod.model_validate(card(DECLINED)))
    result = await sandbox.confirm_charge(charge_id, "k-confirm")
    assert (result.status, result.failure_code) == ("failed", "card_declined")
    state = await sandbox.retrieve(charge_id)
    assert (state.status, state.failure_code, state.last4) == ("failed", "card_declined", "0002")


async def test_the_same_key_creates_and_confirms_once() -> None:
    sandbox = SandboxGateway()
    visa = CardMethod.model_validate(card())
    charge_id = await created(sandbox, visa)
    assert (
        await sandbox.create_charge(USD, visa, "k", reference="payment-k")
    ).charge_id == charge_id
    first = await sandbox.confirm_charge(charge_id, "k-confirm")
    assert first == await sandbox.confirm_charge(charge_id, "k-confirm")
    assert first.status == "succeeded" and len(sandbox.ledger) == sandbox.charge_count == 1


async def test_an_outage_fails_every_call() -> None:
    sandbox = SandboxGateway()
    charge_id = await created(sandbox, CardMethod.model_validate(card()))
    sandbox.outage = True
    with pytest.raises(GatewayUnavailable):
        await sandbox.create_charge(USD, CardMethod.model_validate(card()), "k2", reference="p2")
    for call in (
        sandbox.confirm_charge(charge_id, "k-confirm"),
        sandbox.retrieve(charge_id),
        sandbox.cancel(charge_id, "k-cancel"),
        sandbox.refund(charge_id, USD, "r"),
    ):
        with pytest.raises(GatewayUnavailable):
            await call
    assert sandbox.charge_count == 0
