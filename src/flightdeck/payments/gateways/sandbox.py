"""The sandbox gateway: an in-process processor in test mode, the default.

Behaves like a real processor's test mode: Luhn check, brand from the number, expiry and
CVC checks (4 digits for amex, 3 otherwise), and Stripe's well-known test numbers:

| number | outcome |
|---|---|
| 4242 4242 4242 4242 (and any other valid number) | succeeds |
| 4000 0000 0000 0002 | declined, `card_declined` |
| 4000 0000 0000 9995 | declined, `insufficient_funds` |
| 4000 0000 0000 3220 | `requires_action` (3-D Secure): confirm to complete |
| 4000 0000 0000 0119 | the processor never answers (the call times out → 503) |

Wallet tokens: `tok_decline` declines (`card_declined`), `tok_insufficient_funds` too with
that code, `tok_timeout` times out; any other token succeeds. PayPal: a payer e-mail starting
with `decline` declines, `timeout` times out; any other succeeds.

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
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from flightdeck.payments.gateways.base import (
    ChargeStatus,
    GatewayResult,
    GatewayUnavailable,
    InvalidWebhook,
    RefundResult,
    WebhookEvent,
    WebhooksNotConfigured,
)
from flightdeck.payments.schemas import CardMethod, PaymentMethodIn, PayPalMethod, WalletMethod
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
# How long the "timing out" test number hangs: far beyond any sensible gateway timeout.
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
    if utcnow() - datetime.fromtimestamp(int(stamp), UTC) > WEBHOOK_TOLERANCE:
        raise InvalidWebhook("stale", stale=True)
    try:
        parsed = json.loads(body)
    except ValueError as exc:
        raise InvalidWebhook("not JSON") from exc
    if not isinstance(parsed, dict):
        raise InvalidWebhook("not an object")
    return parsed


@dataclass
class _Charge:
    amount: Money
    refunded: int = 0


class SandboxGateway:
    """In-memory processor: results are remembered per idempotency key, like a real one."""

    name = "sandbox"

    def __init__(self, webhook_secret: str = "") -> None:
        self.webhook_secret = webhook_secret
        self.charges: dict[str, _Charge] = {}
        self._results: dict[str, GatewayResult] = {}
        self._refunds: dict[str, RefundResult] = {}

    @property
    def charge_count(self) -> int:
        """How many charges moved money (tests: a double submit charges once)."""
        return len(self.charges)

    async def authorize_and_capture(
        self, amount: Money, method: PaymentMethodIn, idempotency_key: str
    ) -> GatewayResult:
        if idempotency_key in self._results:
            return self._results[idempotency_key]
        result = await self._charge(amount, method)
        self._results[idempotency_key] = result
        return result

    async def _charge(self, amount: Money, method: PaymentMethodIn) -> GatewayResult:
        if isinstance(method, CardMethod):
            result = await self._card_result(method)
        elif isinstance(method, WalletMethod):
            result = await self._outcome(method.token.removeprefix("tok_"))
        else:
            result = await self._paypal_result(method)
        if result.status != "failed":
            charge_id = "ch_" + secrets.token_hex(12)
            self.charges[charge_id] = _Charge(amount)
            return replace(result, charge_id=charge_id)
        return result

    async def _card_result(self, card: CardMethod) -> GatewayResult:
        number = card.number.get_secret_value()
        brand = card_brand(number)
        failure = None
        if not luhn_valid(number):
            failure = "invalid_number"
        elif (card.exp_year, card.exp_month) < (utcnow().year, utcnow().month):
            failure = "expired_card"
        elif len(card.cvc.get_secret_value()) != (4 if brand == "amex" else 3):
            failure = "incorrect_cvc"
        elif number == TIMES_OUT:
            await _hang()
        else:
            failure = DECLINES.get(number)
        status: ChargeStatus = "succeeded"
        if failure is not None:
            status = "failed"
        elif number == REQUIRES_ACTION:
            status = "requires_action"
        return GatewayResult(
            status=status,
            failure_code=failure,
            brand=brand,
            last4=number[-4:],
            exp_month=card.exp_month,
            exp_year=card.exp_year,
        )

    async def _paypal_result(self, method: PayPalMethod) -> GatewayResult:
        local = method.payer_email.split("@", 1)[0].lower()
        for outcome in ("decline", "timeout"):
            if local.startswith(outcome):
                return await self._outcome(outcome)
        return await self._outcome("success")

    async def _outcome(self, outcome: str) -> GatewayResult:
        if outcome == "timeout":
            await _hang()
        if outcome == "decline":
            return GatewayResult(status="failed", failure_code="card_declined")
        if outcome == "insufficient_funds":
            return GatewayResult(status="failed", failure_code="insufficient_funds")
        return GatewayResult(status="succeeded")

    async def complete_action(self, charge_id: str, idempotency_key: str) -> GatewayResult:
        if charge_id not in self.charges:
            raise GatewayUnavailable(f"unknown charge {charge_id}")
        return GatewayResult(status="succeeded", charge_id=charge_id)

    async def refund(self, charge_id: str, amount: Money, idempotency_key: str) -> RefundResult:
        if idempotency_key in self._refunds:
            return self._refunds[idempotency_key]
        charge = self.charges.get(charge_id)
        if charge is None or charge.refunded + amount.amount > charge.amount.amount:
            raise GatewayUnavailable(f"charge {charge_id} cannot refund {amount.amount}")
        charge.refunded += amount.amount
        result = RefundResult(refund_id="re_" + secrets.token_hex(12), amount=amount)
        self._refunds[idempotency_key] = result
        return result

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


async def _hang() -> None:
    await asyncio.sleep(HANG_SECONDS)
    raise GatewayUnavailable("the sandbox never answers for this test number")
