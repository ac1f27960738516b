"""GuardedGateway: timeouts, the breaker's open / half-open / closed cycle, safe retries, and
the breaker shared by instances through Redis (and what happens when Redis is away)."""

from __future__ import annotations

import asyncio
import socket
import uuid

import pytest

from flightdeck.payments.breaker import GuardedGateway
from flightdeck.payments.gateways.base import (
    GatewayRefused,
    GatewayResult,
    GatewayUnavailable,
    RefundResult,
)
from flightdeck.payments.gateways.sandbox import SandboxGateway
from flightdeck.payments.schemas import CardMethod, PaymentMethodIn
from flightdeck.platform.money import Money
from tests.payments.factories import card
from tests.servers.redis import RedisServer

pytestmark = pytest.mark.asyncio(loop_scope="session")
USD = Money(amount=1000, currency="USD")


class OutageGateway(SandboxGateway):
    """A sandbox that counts the calls reaching it; `blip` makes the next refund fail once."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0
        self.blip = False

    async def create_charge(
        self, amount: Money, method: PaymentMethodIn, idempotency_key: str, reference: str
    ) -> GatewayResult:
        self.calls += 1
        return await super().create_charge(amount, method, idempotency_key, reference)

    async def refund(self, charge_id: str, amount: Money, idempotency_key: str) -> RefundResult:
        self.calls += 1
        if self.blip:
            self.blip = False  # a blip: the retry gets through
            raise GatewayUnavailable("blip")
        return await super().refund(charge_id, amount, idempotency_key)


async def create(gateway: GuardedGateway, key: str) -> GatewayResult:
    return await gateway.create_charge(USD, visa(), key, reference=key)


def visa() -> CardMethod:
    return CardMethod.model_validate(card())


async def test_after_threshold_failures_calls_fail_fast_then_a_trial_call_closes_it() -> None:
    inner = OutageGateway()
    gateway = GuardedGateway(inner, timeout_seconds=1, threshold=2, reset_seconds=0.2)
    inner.outage = True
    for key in ("a", "b"):
        with pytest.raises(GatewayUnavailable):
            await create(gateway, key)
    assert inner.calls == 2
    inner.outage = False
    with pytest.raises(GatewayUnavailable, match="circuit breaker open"):
        await create(gateway, "c")
    assert inner.calls == 2  # open: the processor was not called
    await asyncio.sleep(0.25)
    result = await create(gateway, "d")
    assert result.status == "not_confirmed"
    result = await create(gateway, "e")
    assert result.status == "not_confirmed" and inner.calls == 4


async def test_a_failed_trial_call_opens_the_breaker_again() -> None:
    inner = OutageGateway()
    gateway = GuardedGateway(inner, timeout_seconds=1, threshold=1, reset_seconds=0.2)
    inner.outage = True
    with pytest.raises(GatewayUnavailable):
        await create(gateway, "a")
    await asyncio.sleep(0.25)
    with pytest.raises(GatewayUnavailable, match="outage"):
        await create(gateway, "b")
    with pytest.raises(GatewayUnavailable, match="circuit breaker open"):
        await create(gateway, "c")


async def test_a_confirmation_that_hangs_times_out() -> None:
    gateway = GuardedGateway(SandboxGateway(), timeout_seconds=0.1, threshold=5, reset_seconds=1)
    hanging = CardMethod.model_validate(card("4000000000000119"))
    created = await gateway.create_charge(USD, hanging, "a", reference="a")
    assert created.status == "not_confirmed" and created.charge_id is not None
    with pytest.raises(GatewayUnavailable, match="timed out"):
        await gateway.confirm_charge(created.charge_id, "a-confirm")


async def test_a_refund_is_retried_once_with_the_same_key_and_pays_back_once() -> None:
    inner = OutageGateway()
    gateway = GuardedGateway(inner, timeout_seconds=1, threshold=5, reset_seconds=1)
    created = await create(gateway, "pay")
    assert created.charge_id is not None
    charge = await gateway.confirm_charge(created.charge_id, "pay-confirm")
    assert charge.status == "succeeded" and charge.charge_id is not None
    inner.blip = True
    refund = await gateway.refund(charge.charge_id, USD, "refund-1")
    assert refund.amount == USD
    assert inner.charges[charge.charge_id].refunded == 1000
    again = await gateway.refund(charge.charge_id, USD, "refund-1")
    assert again == refund and inner.charges[charge.charge_id].refunded == 1000


async def test_refusals_neither_open_the_breaker_nor_are_retried() -> None:
    # A reconciler or refund worker meeting charges the processor does not know (made in
    # another sandbox) must not open the breaker on every customer's payment.
    inner = OutageGateway()
    gateway = GuardedGateway(inner, timeout_seconds=1, threshold=2, reset_seconds=60)
    for key in ("a", "b", "c"):
        with pytest.raises(GatewayRefused, match="unknown charge"):
            await gateway.retrieve(f"ch_elsewhere_{key}")
        with pytest.raises(GatewayRefused, match="cannot refund"):
            await gateway.refund(f"ch_elsewhere_{key}", USD, f"refund-{key}")
    assert inner.calls == 3  # each refund reached the processor once: a refusal is final
    created = await create(gateway, "pay")
    assert created.status == "not_confirmed" and inner.calls == 4
    inner.outage = True  # real failures still count, refusals in between or not
    for key in ("d", "e"):
        with pytest.raises(GatewayUnavailable, match="outage"):
            await create(gateway, key)
    inner.outage = False
    with pytest.raises(GatewayUnavailable, match="circuit breaker open"):
        await create(gateway, "f")


def shared(inner: SandboxGateway, url: str, circuit: str, *, threshold: int = 2) -> GuardedGateway:
    return GuardedGateway(
        inner,
        timeout_seconds=1,
        threshold=threshold,
        reset_seconds=0.2,
        store_url=url,
        circuit=circuit,
    )


async def test_instances_sharing_redis_see_one_breaker(redis_server: RedisServer) -> None:
    if not redis_server.is_running:
        redis_server.restart()
    circuit = f"test-{uuid.uuid4().hex}"
    first, second = OutageGateway(), OutageGateway()
    one = shared(first, redis_server.url(), circuit)
    other = shared(second, redis_server.url(), circuit)
    try:
        first.outage = True
        for key in ("a", "b"):
            with pytest.raises(GatewayUnavailable, match="outage"):
                await create(one, key)
        # The other instance never failed, yet its calls now fail fast.
        with pytest.raises(GatewayUnavailable, match="circuit breaker open"):
            await create(other, "c")
        assert second.calls == 0
        await asyncio.sleep(0.25)
        # Its trial call succeeds and closes the breaker for both.
        assert (await create(other, "d")).status == "not_confirmed"
        first.outage = False
        assert (await create(one, "e")).status == "not_confirmed"
        assert (first.calls, second.calls) == (3, 1)
    finally:
        await one.aclose()
        await other.aclose()


async def test_failures_on_two_instances_add_up_in_redis(redis_server: RedisServer) -> None:
    if not redis_server.is_running:
        redis_server.restart()
    circuit = f"test-{uuid.uuid4().hex}"
    first, second = OutageGateway(), OutageGateway()
    one = shared(first, redis_server.url(), circuit, threshold=3)
    other = shared(second, redis_server.url(), circuit, threshold=3)
    try:
        first.outage = second.outage = True
        for gateway, key in ((one, "a"), (other, "b"), (one, "c")):
            with pytest.raises(GatewayUnavailable, match="outage"):
                await create(gateway, key)
        for gateway, key in ((one, "d"), (other, "e")):
            with pytest.raises(GatewayUnavailable, match="circuit breaker open"):
                await create(gateway, key)
        assert (first.calls, second.calls) == (2, 1)
    finally:
        await one.aclose()
        await other.aclose()


async def test_an_unreachable_redis_falls_back_to_a_local_breaker(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    inner = OutageGateway()
    gateway = shared(inner, f"redis://127.0.0.1:{port}/0", f"test-{uuid.uuid4().hex}")
    try:
        # Payments work without the store...
        assert (await create(gateway, "a")).status == "not_confirmed"
        assert "circuit breaker store unreachable" in caplog.text
        # ...and the breaker still protects this instance.
        inner.outage = True
        for key in ("b", "c"):
            with pytest.raises(GatewayUnavailable, match="outage"):
                await create(gateway, key)
        with pytest.raises(GatewayUnavailable, match="circuit breaker open"):
            await create(gateway, "d")
        assert inner.calls == 3
    finally:
        await gateway.aclose()


class StoreKillingGateway(OutageGateway):
    """Stops the breaker's Redis while a call is with the processor (`kill_store`)."""

    def __init__(self, server: RedisServer) -> None:
        super().__init__()
        self.server = server
        self.kill_store = False

    async def create_charge(
        self, amount: Money, method: PaymentMethodIn, idempotency_key: str, reference: str
    ) -> GatewayResult:
        if self.kill_store:
            self.kill_store = False
            self.server.stop()
        return await super().create_charge(amount, method, idempotency_key, reference)


async def test_redis_dying_during_a_call_never_replaces_the_gateways_answer(
    redis_server: RedisServer,
) -> None:
    if not redis_server.is_running:
        redis_server.restart()
    inner = StoreKillingGateway(redis_server)
    gateway = shared(inner, redis_server.url(), f"test-{uuid.uuid4().hex}")
    try:
        assert (await create(gateway, "a")).status == "not_confirmed"
        # The failure cannot be counted in Redis: the caller still gets the gateway's error.
        inner.outage = inner.kill_store = True
        with pytest.raises(GatewayUnavailable, match="outage"):
            await create(gateway, "b")
        inner.outage = False
        assert (await create(gateway, "c")).status == "not_confirmed"
        assert inner.calls == 3
    finally:
        redis_server.restart()
        await gateway.aclose()
