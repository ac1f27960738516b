"""Timeouts, bounded retries and a circuit breaker around a payment gateway.

The breaker is purgatory's (asyncio): after `threshold` consecutive failed calls (timeout,
unreachable, 5xx) it opens and every call fails fast with GatewayUnavailable; after
`reset_seconds` one trial call is let through (half-open) and a success closes it again.
A decline is an answer, not a failure: it never counts.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import TypeVar

from purgatory import AsyncCircuitBreakerFactory
from purgatory.domain.model import OpenedState

from flightdeck.payments.gateways.base import (
    GatewayResult,
    GatewayUnavailable,
    PaymentGateway,
    RefundResult,
    WebhookEvent,
)
from flightdeck.payments.schemas import PaymentMethodIn
from flightdeck.platform.money import Money

log = logging.getLogger(__name__)
T = TypeVar("T")
# Refunds and 3-D Secure completions carry idempotency keys and are retried once; a charge
# is not (the customer waits, and the breaker should see the failure at once).
SAFE_RETRY_ATTEMPTS = 2


class GuardedGateway:
    """A PaymentGateway whose calls time out, retry when safe and go through a breaker."""

    def __init__(
        self,
        gateway: PaymentGateway,
        *,
        timeout_seconds: float,
        threshold: int,
        reset_seconds: float,
    ) -> None:
        self.inner = gateway
        self.name = gateway.name
        self.timeout_seconds = timeout_seconds
        self._breakers = AsyncCircuitBreakerFactory(
            default_threshold=threshold, default_ttl=reset_seconds
        )

    async def authorize_and_capture(
        self, amount: Money, method: PaymentMethodIn, idempotency_key: str
    ) -> GatewayResult:
        return await self._call(
            lambda: self.inner.authorize_and_capture(amount, method, idempotency_key), attempts=1
        )

    async def complete_action(self, charge_id: str, idempotency_key: str) -> GatewayResult:
        return await self._call(lambda: self.inner.complete_action(charge_id, idempotency_key))

    async def refund(self, charge_id: str, amount: Money, idempotency_key: str) -> RefundResult:
        return await self._call(lambda: self.inner.refund(charge_id, amount, idempotency_key))

    def parse_webhook(self, raw: bytes, headers: Mapping[str, str]) -> WebhookEvent:
        return self.inner.parse_webhook(raw, headers)

    async def _call(
        self, make: Callable[[], Awaitable[T]], *, attempts: int = SAFE_RETRY_ATTEMPTS
    ) -> T:
        for attempt in range(1, attempts + 1):
            try:
                return await self._guarded(make)
            except GatewayUnavailable:
                if attempt == attempts:
                    raise
                log.warning("payment gateway call failed; retrying (%s/%s)", attempt, attempts)
        raise AssertionError("unreachable")

    async def _guarded(self, make: Callable[[], Awaitable[T]]) -> T:
        try:
            breaker = await self._breakers.get_breaker(self.name)
            async with breaker:
                async with asyncio.timeout(self.timeout_seconds):
                    return await make()
        except OpenedState as exc:
            raise GatewayUnavailable("circuit breaker open") from exc
        except TimeoutError as exc:
            log.warning("payment gateway %s timed out after %ss", self.name, self.timeout_seconds)
            raise GatewayUnavailable("timed out") from exc
