"""GuardedGateway: timeouts, the breaker's open / half-open / closed cycle, safe retries."""

from __future__ import annotations

import asyncio

import pytest

from flightdeck.payments.breaker import GuardedGateway
from flightdeck.payments.gateways.base import GatewayResult, GatewayUnavailable, RefundResult
from flightdeck.payments.gateways.sandbox import SandboxGateway
from flightdeck.payments.schemas import CardMethod, PaymentMethodIn
from flightdeck.platform.money import Money
from tests.payments.factories import card

pytestmark = pytest.mark.asyncio(loop_scope="session")
USD = Money(amount=1000, currency="USD")


class OutageGateway(SandboxGateway):
    """A sandbox that can be switched into an outage (every call fails) and counts calls."""

    def __init__(self) -> None:
        super().__init__()
        self.down = False
        self.calls = 0

    async def authorize_and_capture(
        self, amount: Money, method: PaymentMethodIn, idempotency_key: str
    ) -> GatewayResult:
        self.calls += 1
        if self.down:
            raise GatewayUnavailable("outage")
        return await super().authorize_and_capture(amount, method, idempotency_key)

    async def refund(self, charge_id: str, amount: Money, idempotency_key: str) -> RefundResult:
        self.calls += 1
        if self.down:
            self.down = False  # a blip: the retry gets through
            raise GatewayUnavailable("blip")
        return await super().refund(charge_id, amount, idempotency_key)


def visa() -> CardMethod:
    return CardMethod.model_validate(card())


async def test_after_threshold_failures_calls_fail_fast_then_a_trial_call_closes_it() -> None:
    inner = OutageGateway()
    gateway = GuardedGateway(inner, timeout_seconds=1, threshold=2, reset_seconds=0.2)
    inner.down = True
    for key in ("a", "b"):
        with pytest.raises(GatewayUnavailable):
            await gateway.authorize_and_capture(USD, visa(), key)
    assert inner.calls == 2
    inner.down = False
    with pytest.raises(GatewayUnavailable, match="circuit breaker open"):
        await gateway.authorize_and_capture(USD, visa(), "c")
    assert inner.calls == 2  # open: the processor was not called
    await asyncio.sleep(0.25)
    result = await gateway.authorize_and_capture(USD, visa(), "d")
    assert result.status == "succeeded"
    result = await gateway.authorize_and_capture(USD, visa(), "e")
    assert result.status == "succeeded" and inner.calls == 4


async def test_a_failed_trial_call_opens_the_breaker_again() -> None:
    inner = OutageGateway()
    gateway = GuardedGateway(inner, timeout_seconds=1, threshold=1, reset_seconds=0.2)
    inner.down = True
    with pytest.raises(GatewayUnavailable):
        await gateway.authorize_and_capture(USD, visa(), "a")
    await asyncio.sleep(0.25)
    with pytest.raises(GatewayUnavailable, match="outage"):
        await gateway.authorize_and_capture(USD, visa(), "b")
    with pytest.raises(GatewayUnavailable, match="circuit breaker open"):
        await gateway.authorize_and_capture(USD, visa(), "c")


async def test_a_call_that_hangs_times_out() -> None:
    gateway = GuardedGateway(SandboxGateway(), timeout_seconds=0.1, threshold=5, reset_seconds=1)
    hanging = CardMethod.model_validate(card("4000000000000119"))
    with pytest.raises(GatewayUnavailable, match="timed out"):
        await gateway.authorize_and_capture(USD, hanging, "a")


async def test_a_refund_is_retried_once_with_the_same_key_and_pays_back_once() -> None:
    inner = OutageGateway()
    gateway = GuardedGateway(inner, timeout_seconds=1, threshold=5, reset_seconds=1)
    charge = await gateway.authorize_and_capture(USD, visa(), "pay")
    assert charge.charge_id is not None
    inner.down = True
    refund = await gateway.refund(charge.charge_id, USD, "refund-1")
    assert refund.amount == USD
    assert inner.charges[charge.charge_id].refunded == 1000
    again = await gateway.refund(charge.charge_id, USD, "refund-1")
    assert again == refund and inner.charges[charge.charge_id].refunded == 1000
