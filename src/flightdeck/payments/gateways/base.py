"""The gateway interface every payment processor adapter implements, and what it returns.

A charge takes two calls, so that a lost answer never hides money taken: `create_charge`
registers the charge with the processor without moving money and returns its id (stored on
the attempt before anything else happens), then `confirm_charge` takes the money. When the
confirmation's answer is lost, `retrieve` tells what happened and `cancel` voids a charge that
was never confirmed (payments/reconciler.py).

Card numbers and CVCs reach an adapter as `SecretStr` and leave it only towards the
processor: results carry brand, last four and expiry, never the number.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from flightdeck.payments.schemas import PaymentMethodIn
from flightdeck.platform.money import Money

# `not_confirmed`: created, nothing charged yet (may still be confirmed or cancelled);
# `canceled`: voided before any money moved; `requires_action`: waits for the customer
# (3-D Secure) or for the processor to settle it (the webhook completes it).
ChargeStatus = Literal["succeeded", "failed", "requires_action", "not_confirmed", "canceled"]


class GatewayUnavailable(Exception):
    """The processor did not answer (timeout, connection, 5xx): what it did is not known."""


class GatewayRefused(GatewayUnavailable):
    """The processor answered and refused the call: it knows no such charge, or the charge
    has nothing left to refund. Callers treat it as a GatewayUnavailable (no result: the
    attempt is retried later, or given up, as theirs are); the circuit breaker does not count
    it as a failure, since the processor is up (a few bad records must not stop every
    customer's payments)."""


class InvalidWebhook(Exception):
    """A webhook whose signature is missing or wrong (`stale`: authentic but too old)."""

    def __init__(self, reason: str, *, stale: bool = False) -> None:
        super().__init__(reason)
        self.stale = stale


class WebhooksNotConfigured(Exception):
    """No webhook signing secret is configured: no event can be verified."""


@dataclass(frozen=True)
class GatewayResult:
    """The state of a charge at the processor, as one of its calls reported it."""

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
    """A payment processor. Every call that changes something carries an idempotency key:
    the same key never does it twice, so a retried call is safe."""

    name: str

    async def create_charge(
        self, amount: Money, method: PaymentMethodIn, idempotency_key: str, reference: str
    ) -> GatewayResult:
        """Registers a charge of `amount` with the method, moving no money: `not_confirmed`
        with its `charge_id`, or `failed` when the processor refuses the method outright.
        `reference` (the payment's id) is kept with the charge at the processor.
        Raises GatewayUnavailable (nothing can have been charged)."""
        ...

    async def confirm_charge(self, charge_id: str, idempotency_key: str) -> GatewayResult:
        """Takes the money: `succeeded`, `failed` (a decline, with its code) or
        `requires_action`. Raises GatewayUnavailable: the money may or may not be taken."""
        ...

    async def complete_action(self, charge_id: str, idempotency_key: str) -> GatewayResult:
        """Completes a charge that returned `requires_action` (3-D Secure passed)."""
        ...

    async def retrieve(self, charge_id: str) -> GatewayResult:
        """The charge's current state (`not_confirmed` when nothing was charged yet).
        Raises GatewayUnavailable; GatewayRefused for a charge the processor does not know."""
        ...

    async def cancel(self, charge_id: str, idempotency_key: str) -> GatewayResult:
        """Voids a charge not confirmed yet: `canceled`. A charge that went through
        meanwhile cannot be voided: its state is returned (`succeeded`, `failed`).
        Raises GatewayUnavailable."""
        ...

    async def refund(self, charge_id: str, amount: Money, idempotency_key: str) -> RefundResult:
        """Pays `amount` of the charge back. Raises GatewayUnavailable; GatewayRefused when
        the processor refuses (no such charge, more than is left to refund)."""
        ...

    def parse_webhook(self, raw: bytes, headers: Mapping[str, str]) -> WebhookEvent:
        """Verifies the signature and parses the event; raises InvalidWebhook, or
        WebhooksNotConfigured without a signing secret."""
        ...
