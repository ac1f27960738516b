"""The sandbox gateway: an in-process processor in test mode, the default.

Behaves like a real processor's test mode: Luhn check, brand from the number, expiry and
CVC checks (4 digits for amex, 3 otherwise), and Stripe's well-known test numbers:

| number | outcome |
|---|---|
| 4242 4242 4242 4242 (and any other valid number) | succeeds |
| 4000 0000 0000 0002 | declined, `card_declined` |
| 4000 0000 0000 9995 | declined, `insufficient_funds` |
| 4000 0000 0000 3220 | `requires_action` (3-D Secure): confirm to complete |
| 4000 0000 0000 0119 | times out, the worst way: the card IS charged, the answer is lost |

The 0119 confirmation takes the money and then hangs: the API answers 202 `processing` and the
reconciler later finds the charge succeeded (booking confirmed, charged once).

Wallet tokens: `tok_decline` declines (`card_declined`), `tok_insufficient_funds` too with
that code, `tok_timeout` times out WITHOUT charging (the confirmation hangs → 202
`processing`; the reconciler cancels it → `failed`); any other token succeeds. PayPal: a payer
e-mail starting with `decline` declines, `timeout` times out like `tok_timeout`; any other
succeeds.

A charge is created (`pi_…`, nothing charged) and then confirmed, like a PaymentIntent; the
outcome is played out on confirmation. `ledger` holds every charge. `outage = True` makes every
call fail as if the processor could not be reached (tests, demos).

Webhooks: header `FlightDeck-Signature: t=<unix seconds>,v1=<hex>`, hex = HMAC-SHA256 over
`t + "." + raw body` with the webhook secret; body `{"id", "type", "data": {"object":
{"id": <charge id>}}}`.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from flightdeck.payments.gateways.base import (
    ChargeStatus,
    GatewayRefused,
    GatewayResult,
    GatewayUnavailable,
    InvalidWebhook,
    RefundResult,
    WebhookEvent,
    WebhooksNotConfigured,
)
from flightdeck.payments.schemas import CardMethod, PaymentMethodIn, WalletMethod
from flightdeck.platform.clock import utcnow
from flightdeck.platform.money import Money

SIGNATURE_HEADER = "FlightDeck-Signature"
WEBHOOK_TOLERANCE = timedelta(minutes=5)
DECLINES = {
    "4000000000000002": "card_declined",
    "4000000000009995": "insufficient_funds",
}
REQUIRES_ACTION = "4000000000003220"
TIMES_OUT = "4000000000000119"
# How long a "timing out" confirmation hangs: far beyond any sensible gateway timeout.
HANG_SECONDS = 3600.0


def luhn_valid(number: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(number)):
        digit = int(char)
        if index % 2:
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return total % 10 == 0


def card_brand(number: str) -> str:
    if number.startswith("4"):
        return "visa"
    if number[:2] in {"34", "37"}:
        return "amex"
    if 51 <= int(number[:2]) <= 55 or 2221 <= int(number[:4]) <= 2720:
        return "mastercard"
    if number.startswith(("6011", "65")) or 644 <= int(number[:3]) <= 649:
        return "discover"
    return "unknown"


def sign_webhook(secret: str, body: bytes, timestamp: int | None = None) -> str:
    """The `FlightDeck-Signature` header value for this body (senders, tests)."""
    stamp = timestamp if timestamp is not None else int(utcnow().timestamp())
    digest = hmac.new(secret.encode(), f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={stamp},v1={digest}"


def verify_webhook(secret: str, body: bytes, header: str | None) -> dict[str, object]:
    """The parsed body if `header` signs it within five minutes; InvalidWebhook otherwise."""
    parts = dict(part.strip().split("=", 1) for part in (header or "").split(",") if "=" in part)
    stamp, signature = parts.get("t", ""), parts.get("v1", "")
    if not stamp.isdigit() or not signature:
        raise InvalidWebhook("missing signature")
    expected = hmac.new(secret.encode(), f"{stamp}.".encode() + body, hashlib.sha256)
    if not hmac.compare_digest(expected.hexdigest(), signature):
        raise InvalidWebhook("signature mismatch")
    try:
        signed_at = datetime.fromtimestamp(int(stamp), UTC)
    except (OverflowError, OSError, ValueError):  # beyond the calendar: not a real time
        raise InvalidWebhook("stale", stale=True) from None
    if utcnow() - signed_at > WEBHOOK_TOLERANCE:
        raise InvalidWebhook("stale", stale=True)
    try:
        parsed = json.loads(body)
    except (ValueError, RecursionError) as exc:  # RecursionError: nested too deeply
        raise InvalidWebhook("not JSON") from exc
    if not isinstance(parsed, dict):
        raise InvalidWebhook("not an object")
    return parsed


Outcome = Literal["succeed", "decline", "requires_action", "charge_then_hang", "hang"]


@dataclass
class SandboxCharge:
    """One charge in the sandbox's ledger: what confirming it does, and where it stands."""

    amount: Money
    reference: str
    outcome: Outcome
    failure_code: str | None = None
    card: dict[str, Any] = field(default_factory=dict)
    status: ChargeStatus = "not_confirmed"
    refunded: int = 0


class SandboxGateway:
    """In-memory processor: results are remembered per idempotency key, like a real one."""

    name = "sandbox"

    def __init__(self, webhook_secret: str = "") -> None:
        self.webhook_secret = webhook_secret
        # Every charge created, by id (`pi_…`), whatever became of it.
        self.ledger: dict[str, SandboxCharge] = {}
        # While True every call fails as if the processor were unreachable.
        self.outage = False
        self._created: dict[str, GatewayResult] = {}
        self._confirmed: dict[str, GatewayResult] = {}
        self._refunds: dict[str, RefundResult] = {}

    @property
    def charges(self) -> dict[str, SandboxCharge]:
        """The charges that took money (tests: a double submit charges once)."""
        return {key: c for key, c in self.ledger.items() if c.status == "succeeded"}

    @property
    def charge_count(self) -> int:
        return len(self.charges)

    @property
    def refund_count(self) -> int:
        """How many refunds moved money (a retried refund with its key counts once)."""
        return len(self._refunds)

    async def create_charge(
        self, amount: Money, method: PaymentMethodIn, idempotency_key: str, reference: str
    ) -> GatewayResult:
        self._check_reachable()
        if idempotency_key in self._created:
            return self._created[idempotency_key]
        if isinstance(method, CardMethod):
            charge = _card_charge(amount, reference, method)
        elif isinstance(method, WalletMethod):
            charge = _charge(amount, reference, method.token.removeprefix("tok_"))
        else:
            local = method.payer_email.split("@", 1)[0].lower()
            outcome = next((o for o in ("decline", "timeout") if local.startswith(o)), "")
            charge = _charge(amount, reference, outcome)
        charge_id = "pi_" + secrets.token_hex(12)
        self.ledger[charge_id] = charge
        result = _state(charge_id, charge)
        self._created[idempotency_key] = result
        return result

    async def confirm_charge(self, charge_id: str, idempotency_key: str) -> GatewayResult:
        charge = self._charge(charge_id)
        if idempotency_key in self._confirmed:
            return self._confirmed[idempotency_key]
        if charge.status != "not_confirmed":
            return _state(charge_id, charge)
        if charge.outcome == "hang":
            await _hang()  # the request is lost on the way: nothing happens
        if charge.outcome == "decline":
            charge.status = "failed"
        elif charge.outcome == "requires_action":
            charge.status = "requires_action"
        else:
            charge.status = "succeeded"
        if charge.outcome == "charge_then_hang":
            await _hang()  # the money is taken, the answer is lost
        result = _state(charge_id, charge)
        self._confirmed[idempotency_key] = result
        return result

    async def complete_action(self, charge_id: str, idempotency_key: str) -> GatewayResult:
        charge = self._charge(charge_id)
        if charge.status == "requires_action":
            charge.status = "succeeded"
        return _state(charge_id, charge)

    async def retrieve(self, charge_id: str) -> GatewayResult:
        return _state(charge_id, self._charge(charge_id))

    async def cancel(self, charge_id: str, idempotency_key: str) -> GatewayResult:
        charge = self._charge(charge_id)
        if charge.status in ("not_confirmed", "requires_action"):
            charge.status = "canceled"
        return _state(charge_id, charge)

    async def refund(self, charge_id: str, amount: Money, idempotency_key: str) -> RefundResult:
        self._check_reachable()
        if idempotency_key in self._refunds:
            return self._refunds[idempotency_key]
        charge = self.ledger.get(charge_id)
        if (
            charge is None
            or charge.status != "succeeded"
            or charge.refunded + amount.amount > charge.amount.amount
        ):
            raise GatewayRefused(f"charge {charge_id} cannot refund {amount.amount}")
        charge.refunded += amount.amount
        result = RefundResult(refund_id="re_" + secrets.token_hex(12), amount=amount)
        self._refunds[idempotency_key] = result
        return result

    def _check_reachable(self) -> None:
        if self.outage:
            raise GatewayUnavailable("the sandbox processor is down (outage)")

    def _charge(self, charge_id: str) -> SandboxCharge:
        self._check_reachable()
        charge = self.ledger.get(charge_id)
        if charge is None:
            # Another process's sandbox (each keeps its own ledger): nothing to say about it.
            raise GatewayRefused(f"unknown charge {charge_id}")
        return charge

    def parse_webhook(self, raw: bytes, headers: Mapping[str, str]) -> WebhookEvent:
        if not self.webhook_secret:
            raise WebhooksNotConfigured()
        body = verify_webhook(self.webhook_secret, raw, headers.get(SIGNATURE_HEADER))
        data = body.get("data")
        obj = data.get("object") if isinstance(data, dict) else None
        charge_id = obj.get("id") if isinstance(obj, dict) else None
        event_id, event_type = body.get("id"), body.get("type")
        if not isinstance(event_id, str) or not isinstance(event_type, str):
            raise InvalidWebhook("event id and type are required")
        return WebhookEvent(
            id=event_id,
            type=event_type,
            charge_id=charge_id if isinstance(charge_id, str) else None,
            data=obj if isinstance(obj, dict) else {},
        )


def _card_charge(amount: Money, reference: str, card: CardMethod) -> SandboxCharge:
    number = card.number.get_secret_value()
    brand = card_brand(number)
    details = {
        "brand": brand,
        "last4": number[-4:],
        "exp_month": card.exp_month,
        "exp_year": card.exp_year,
    }
    failure = None
    if not luhn_valid(number):
        failure = "invalid_number"
    elif (card.exp_year, card.exp_month) < (utcnow().year, utcnow().month):
        failure = "expired_card"
    elif len(card.cvc.get_secret_value()) != (4 if brand == "amex" else 3):
        failure = "incorrect_cvc"
    else:
        failure = DECLINES.get(number)
    outcome: Outcome = "succeed"
    if failure is not None:
        outcome = "decline"
    elif number == TIMES_OUT:
        outcome = "charge_then_hang"
    elif number == REQUIRES_ACTION:
        outcome = "requires_action"
    return SandboxCharge(amount, reference, outcome, failure, details)


def _charge(amount: Money, reference: str, outcome: str) -> SandboxCharge:
    """A wallet token's or PayPal payer's charge: `decline`, `insufficient_funds`,
    `timeout` or (anything else) success."""
    if outcome == "decline":
        return SandboxCharge(amount, reference, "decline", "card_declined")
    if outcome == "insufficient_funds":
        return SandboxCharge(amount, reference, "decline", "insufficient_funds")
    if outcome == "timeout":
        return SandboxCharge(amount, reference, "hang")
    return SandboxCharge(amount, reference, "succeed")


def _state(charge_id: str, charge: SandboxCharge) -> GatewayResult:
    return GatewayResult(
        status=charge.status,
        charge_id=charge_id,
        failure_code=charge.failure_code if charge.status == "failed" else None,
        **charge.card,
    )


async def _hang() -> None:
    await asyncio.sleep(HANG_SECONDS)
    raise GatewayUnavailable("the sandbox never answers for this test number")
