"""The gateway interface every payment processor adapter implements, and what it returns.

Card numbers and CVCs reach an adapter as `SecretStr` and leave it only towards the
processor: results carry brand, last four and expiry, never the number.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from flightdeck.payments.schemas import PaymentMethodIn
from flightdeck.platform.money import Money

ChargeStatus = Literal["succeeded", "failed", "requires_action"]


class GatewayUnavailable(Exception):
    """The processor did not answer (timeout, connection, 5xx): nothing is known to be charged."""


class InvalidWebhook(Exception):
    """A webhook whose signature is missing or wrong (`stale`: authentic but too old)."""

    def __init__(self, reason: str, *, stale: bool = False) -> None:
        super().__init__(reason)
        self.stale = stale


class WebhooksNotConfigured(Exception):
    """No webhook signing secret is configured: no event can be verified."""


@dataclass(frozen=True)
class GatewayResult:
    """Outcome of an authorise-and-capture (or of completing one that required action)."""

    status: ChargeStatus
    charge_id: str | None = None
    failure_code: str | None = None
    brand: str | None = None
    last4: str | None = None
    exp_month: int | None = None
    exp_year: int | None = None
    next_action: dict[str, Any] | None = None


@dataclass(frozen=True)
class RefundResult:
    refund_id: str
    amount: Money


@dataclass(frozen=True)
class WebhookEvent:
    """A verified event: `charge_id` is the processor's id of the payment it concerns."""

    id: str
    type: str
    charge_id: str | None
    data: Mapping[str, Any] = field(default_factory=dict)


class PaymentGateway(Protocol):
    """A payment processor. Every money-moving call carries an idempotency key: the same key
    never moves money twice, so a retried call is safe."""

    name: str

    async def authorize_and_capture(
        self, amount: Money, method: PaymentMethodIn, idempotency_key: str
    ) -> GatewayResult:
        """Charges `amount`; a decline is a `failed` result, not an exception.
        Raises GatewayUnavailable when the processor cannot be reached."""
        ...

    async def complete_action(self, charge_id: str, idempotency_key: str) -> GatewayResult:
        """Completes a charge that returned `requires_action` (3-D Secure passed)."""
        ...

    async def refund(self, charge_id: str, amount: Money, idempotency_key: str) -> RefundResult:
        """Pays `amount` of the charge back. Raises GatewayUnavailable."""
        ...

    def parse_webhook(self, raw: bytes, headers: Mapping[str, str]) -> WebhookEvent:
        """Verifies the signature and parses the event; raises InvalidWebhook, or
        WebhooksNotConfigured without a signing secret."""
        ...
