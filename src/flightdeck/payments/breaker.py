"""Timeouts, bounded retries and a circuit breaker around a payment gateway.

The breaker is purgatory's (asyncio): after `threshold` consecutive failed calls (timeout,
unreachable, 5xx) it opens and every call fails fast with GatewayUnavailable; after
`reset_seconds` one trial call is let through (half-open) and a success closes it again.
A decline is an answer, not a failure: it never counts, and neither does a refusal
(`GatewayRefused`: no such charge, nothing left to refund), which is not retried either.
Otherwise a reconciler or refund worker going through a few bad records (a charge made in
another sandbox, a refund the processor will not make) would open the breaker and fail every
customer's payment meanwhile.

With a Redis URL (`FLIGHTDECK_REDIS_URL`) the breaker's state lives in Redis (purgatory's
`AsyncRedisUnitOfWork`), so every instance sees one breaker: failures on one open it for all.
If Redis cannot be reached the breaker falls back to this process's own in-memory breaker
(payments keep working, still protected per instance; a warning is logged) and tries Redis
again after `STORE_RETRY_SECONDS`: a store outage never turns a payment into a 500.
The shared breaker's threshold and reset time are those of the instance that created its key
(`cbr::flightdeck.payments.<gateway>`): delete the key after changing them.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from purgatory import AsyncCircuitBreakerFactory, AsyncRedisUnitOfWork
from purgatory.domain.model import OpenedState
from redis.exceptions import RedisError

from flightdeck.payments.gateways.base import (
    GatewayRefused,
    GatewayResult,
    GatewayUnavailable,
    PaymentGateway,
    RefundResult,
    WebhookEvent,
)
from flightdeck.payments.schemas import PaymentMethodIn
from flightdeck.platform.money import Money

if TYPE_CHECKING:
    from purgatory.service._async.circuitbreaker import AsyncCircuitBreaker

log = logging.getLogger(__name__)
T = TypeVar("T")
# Reads, cancels, refunds and 3-D Secure completions are safe to repeat (idempotency keys)
# and are retried once; creating and confirming a charge are not retried (the customer
# waits, and the breaker should see the failure at once).
SAFE_RETRY_ATTEMPTS = 2
# The shared store's budget per breaker operation, and how long it is left alone after failing.
STORE_TIMEOUT_SECONDS = 0.5
STORE_RETRY_SECONDS = 5.0
_STORE_ERRORS = (RedisError, OSError, TimeoutError)


class GuardedGateway:
    """A PaymentGateway whose calls time out, retry when safe and go through a breaker
    (shared through Redis when `store_url` is given)."""

    def __init__(
        self,
        gateway: PaymentGateway,
        *,
        timeout_seconds: float,
        threshold: int,
        reset_seconds: float,
        store_url: str = "",
        circuit: str | None = None,
    ) -> None:
        self.inner = gateway
        self.name = gateway.name
        self.timeout_seconds = timeout_seconds
        self.circuit = circuit or f"flightdeck.payments.{gateway.name}"
        self._local = AsyncCircuitBreakerFactory(
            default_threshold=threshold, default_ttl=reset_seconds
        )
        self._shared: AsyncCircuitBreakerFactory | None = None
        if store_url:
            self._shared = AsyncCircuitBreakerFactory(
                default_threshold=threshold,
                default_ttl=reset_seconds,
                uow=AsyncRedisUnitOfWork(_with_socket_timeouts(store_url)),
            )
        self._shared_down_until = 0.0

    async def create_charge(
        self, amount: Money, method: PaymentMethodIn, idempotency_key: str, reference: str
    ) -> GatewayResult:
        return await self._call(
            lambda: self.inner.create_charge(amount, method, idempotency_key, reference),
            attempts=1,
        )

    async def confirm_charge(self, charge_id: str, idempotency_key: str) -> GatewayResult:
        return await self._call(
            lambda: self.inner.confirm_charge(charge_id, idempotency_key), attempts=1
        )

    async def complete_action(self, charge_id: str, idempotency_key: str) -> GatewayResult:
        return await self._call(lambda: self.inner.complete_action(charge_id, idempotency_key))

    async def retrieve(self, charge_id: str) -> GatewayResult:
        return await self._call(lambda: self.inner.retrieve(charge_id))

    async def cancel(self, charge_id: str, idempotency_key: str) -> GatewayResult:
        return await self._call(lambda: self.inner.cancel(charge_id, idempotency_key))

    async def refund(self, charge_id: str, amount: Money, idempotency_key: str) -> RefundResult:
        return await self._call(lambda: self.inner.refund(charge_id, amount, idempotency_key))

    def parse_webhook(self, raw: bytes, headers: Mapping[str, str]) -> WebhookEvent:
        return self.inner.parse_webhook(raw, headers)

    async def aclose(self) -> None:
        """Closes the connection to the shared breaker store, if any."""
        redis = getattr(self._shared.uow.contexts, "redis", None) if self._shared else None
        if redis is not None:
            await redis.aclose()

    async def _call(
        self, make: Callable[[], Awaitable[T]], *, attempts: int = SAFE_RETRY_ATTEMPTS
    ) -> T:
        for attempt in range(1, attempts + 1):
            try:
                return await self._guarded(make)
            except GatewayRefused:
                raise
            except GatewayUnavailable:
                if attempt == attempts:
                    raise
                log.warning("payment gateway call failed; retrying (%s/%s)", attempt, attempts)
        raise AssertionError("unreachable")

    async def _guarded(self, make: Callable[[], Awaitable[T]]) -> T:
        breaker = await self._breaker()
        try:
            await breaker.__aenter__()
        except OpenedState as exc:
            raise GatewayUnavailable("circuit breaker open") from exc
        try:
            async with asyncio.timeout(self.timeout_seconds):
                result = await make()
        except TimeoutError as exc:
            log.warning("payment gateway %s timed out after %ss", self.name, self.timeout_seconds)
            timed_out = GatewayUnavailable("timed out")
            await self._record(breaker, timed_out)
            raise timed_out from exc
        except GatewayRefused:
            await self._record(breaker, None)  # the processor answered
            raise
        except Exception as exc:
            await self._record(breaker, exc)
            raise
        await self._record(breaker, None)
        return result

    async def _breaker(self) -> AsyncCircuitBreaker:
        """The shared breaker, or this process's own while the shared store is unreachable."""
        if self._shared is not None and time.monotonic() >= self._shared_down_until:
            try:
                async with asyncio.timeout(STORE_TIMEOUT_SECONDS):
                    return await self._shared.get_breaker(self.circuit)
            except _STORE_ERRORS as exc:
                self._store_failed(exc)
        return await self._local.get_breaker(self.circuit)

    async def _record(self, breaker: AsyncCircuitBreaker, error: Exception | None) -> None:
        """Counts the call's outcome; a store failure loses the count, never the result."""
        try:
            async with asyncio.timeout(STORE_TIMEOUT_SECONDS):
                if error is None:
                    await breaker.__aexit__(None, None, None)
                else:
                    await breaker.__aexit__(type(error), error, error.__traceback__)
        except _STORE_ERRORS as exc:
            self._store_failed(exc)

    def _store_failed(self, exc: BaseException) -> None:
        if time.monotonic() >= self._shared_down_until:
            log.warning(
                "circuit breaker store unreachable (%s); using this process's own breaker for %ss",
                type(exc).__name__,
                STORE_RETRY_SECONDS,
            )
        self._shared_down_until = time.monotonic() + STORE_RETRY_SECONDS


def _with_socket_timeouts(url: str) -> str:
    """The Redis URL with short socket timeouts unless it sets its own."""
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    query.setdefault("socket_timeout", str(STORE_TIMEOUT_SECONDS))
    query.setdefault("socket_connect_timeout", str(STORE_TIMEOUT_SECONDS))
    return urlunsplit(parts._replace(query=urlencode(query)))
