"""The Stripe gateway: the official `stripe` SDK (async over httpx), PaymentIntents created
(not confirmed, metadata `flightdeck_payment`) and then confirmed, retrieved and cancelled,
refunds, and `Stripe-Signature` webhooks.

Cards: the number goes to Stripe once to make a PaymentMethod (raw card data, as Stripe's
test mode and localstripe accept; a live account would take PaymentMethod ids from
Stripe.js instead, which the wallet path already does). Wallets: the token is a Stripe
PaymentMethod id (`pm_card_visa`, or one made by Apple/Google Pay through Stripe.js).
PayPal is not offered through this gateway (payment `failed`, `payment_method_not_supported`).
`charge_id` is the PaymentIntent's id; every call sends the idempotency key given.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from stripe import (
    APIConnectionError,
    APIError,
    AuthenticationError,
    CardError,
    HTTPXClient,
    InvalidRequestError,
    PaymentIntent,
    RateLimitError,
    SignatureVerificationError,
    StripeClient,
    Webhook,
)

from flightdeck.payments.gateways.base import (
    GatewayRefused,
    GatewayResult,
    GatewayUnavailable,
    InvalidWebhook,
    RefundResult,
    WebhookEvent,
    WebhooksNotConfigured,
)
from flightdeck.payments.schemas import CardMethod, PaymentMethodIn, WalletMethod
from flightdeck.platform.money import Money

SIGNATURE_HEADER = "Stripe-Signature"
# The PaymentIntent's metadata key naming the FlightDeck payment (find it in the dashboard).
PAYMENT_METADATA_KEY = "flightdeck_payment"
WEBHOOK_TOLERANCE_SECONDS = 300
# Errors that say nothing about the payment itself: the processor could not be reached.
_UNAVAILABLE = (APIConnectionError, RateLimitError, APIError, AuthenticationError)


class StripeGateway:
    name = "stripe"

    def __init__(self, *, api_key: str, api_base: str = "", webhook_secret: str = "") -> None:
        self.webhook_secret = webhook_secret
        addresses: Any = {"api": api_base.rstrip("/")} if api_base else None
        # Timeouts and retries are GuardedGateway's: the SDK neither waits nor retries long.
        self.client = StripeClient(
            api_key or "sk_test_unset",
            base_addresses=addresses,
            http_client=HTTPXClient(timeout=30),
            max_network_retries=0,
        )

    async def create_charge(
        self, amount: Money, method: PaymentMethodIn, idempotency_key: str, reference: str
    ) -> GatewayResult:
        """A PaymentIntent with the method attached, not confirmed (no money moves)."""
        card: dict[str, Any] = {}
        try:
            card, payment_method = await self._payment_method(method, idempotency_key)
            if payment_method is None:
                return GatewayResult(status="failed", failure_code="payment_method_not_supported")
            intent = await self.client.v1.payment_intents.create_async(
                params={
                    "amount": amount.amount,
                    "currency": amount.currency.lower(),
                    "payment_method": payment_method,
                    "metadata": {PAYMENT_METADATA_KEY: reference},
                },
                options={"idempotency_key": idempotency_key},
            )
        except CardError as exc:
            return GatewayResult(status="failed", failure_code=_decline_code(exc), **card)
        except InvalidRequestError as exc:
            return GatewayResult(status="failed", failure_code=exc.code or "invalid_request")
        except _UNAVAILABLE as exc:
            raise GatewayUnavailable(f"stripe: {type(exc).__name__}") from exc
        return GatewayResult(charge_id=intent.id, **_intent_state(intent), **card)

    async def confirm_charge(self, charge_id: str, idempotency_key: str) -> GatewayResult:
        try:
            intent = await self.client.v1.payment_intents.confirm_async(
                charge_id, options={"idempotency_key": idempotency_key}
            )
        except CardError as exc:
            return GatewayResult(
                status="failed", charge_id=charge_id, failure_code=_decline_code(exc)
            )
        except InvalidRequestError as exc:
            # Refused: unless it went through after all, nothing was (or will be) charged.
            state = await self.retrieve(charge_id)
            if state.status != "not_confirmed":
                return state
            code = exc.code or "invalid_request"
            return GatewayResult(status="failed", charge_id=charge_id, failure_code=code)
        except _UNAVAILABLE as exc:
            raise GatewayUnavailable(f"stripe: {type(exc).__name__}") from exc
        return GatewayResult(charge_id=intent.id, **_intent_state(intent))

    async def _payment_method(
        self, method: PaymentMethodIn, idempotency_key: str
    ) -> tuple[dict[str, Any], str | None]:
        if isinstance(method, WalletMethod):
            return {}, method.token
        if not isinstance(method, CardMethod):
            return {}, None
        created = await self.client.v1.payment_methods.create_async(
            params={
                "type": "card",
                "card": {
                    "number": method.number.get_secret_value(),
                    "exp_month": method.exp_month,
                    "exp_year": method.exp_year,
                    "cvc": method.cvc.get_secret_value(),
                },
                "billing_details": {"name": method.holder},
            },
            options={"idempotency_key": f"{idempotency_key}-pm"},
        )
        card = created.card
        details: dict[str, Any] = {}
        if card is not None:
            details = {
                "brand": card.brand,
                "last4": card.last4,
                "exp_month": card.exp_month,
                "exp_year": card.exp_year,
            }
        return details, created.id

    async def complete_action(self, charge_id: str, idempotency_key: str) -> GatewayResult:
        """Reads the PaymentIntent after the customer's 3-D Secure step."""
        return await self.retrieve(charge_id)

    async def retrieve(self, charge_id: str) -> GatewayResult:
        try:
            intent = await self.client.v1.payment_intents.retrieve_async(charge_id)
        except InvalidRequestError as exc:  # no such PaymentIntent (404): an answer
            raise GatewayRefused(f"stripe: {exc.code or type(exc).__name__}") from exc
        except _UNAVAILABLE as exc:
            raise GatewayUnavailable(f"stripe: {type(exc).__name__}") from exc
        return GatewayResult(charge_id=intent.id, **_intent_state(intent))

    async def cancel(self, charge_id: str, idempotency_key: str) -> GatewayResult:
        try:
            intent = await self.client.v1.payment_intents.cancel_async(
                charge_id, options={"idempotency_key": idempotency_key}
            )
        except InvalidRequestError:
            # Stripe refuses to cancel an intent that succeeded (or is cancelled) already.
            return await self.retrieve(charge_id)
        except _UNAVAILABLE as exc:
            raise GatewayUnavailable(f"stripe: {type(exc).__name__}") from exc
        return GatewayResult(charge_id=intent.id, **_intent_state(intent))

    async def refund(self, charge_id: str, amount: Money, idempotency_key: str) -> RefundResult:
        try:
            refund = await self.client.v1.refunds.create_async(
                params={"payment_intent": charge_id, "amount": amount.amount},
                options={"idempotency_key": idempotency_key},
            )
        except InvalidRequestError as exc:  # no such intent, or more than is left to refund
            raise GatewayRefused(f"stripe refund: {exc.code or type(exc).__name__}") from exc
        except _UNAVAILABLE as exc:
            raise GatewayUnavailable(f"stripe refund: {type(exc).__name__}") from exc
        return RefundResult(refund_id=refund.id, amount=amount)

    def parse_webhook(self, raw: bytes, headers: Mapping[str, str]) -> WebhookEvent:
        if not self.webhook_secret:
            raise WebhooksNotConfigured()
        signature = headers.get(SIGNATURE_HEADER)
        try:
            event = Webhook.construct_event(
                raw, signature, self.webhook_secret, tolerance=WEBHOOK_TOLERANCE_SECONDS
            )
        except SignatureVerificationError as exc:
            raise InvalidWebhook(str(exc), stale="tolerance" in str(exc)) from exc
        except (ValueError, RecursionError) as exc:  # RecursionError: nested too deeply
            raise InvalidWebhook("not JSON") from exc
        obj: dict[str, Any] = event.data.object.to_dict()
        # A dispute names its PaymentIntent; a PaymentIntent event is the intent itself.
        charge_id = obj.get("payment_intent") if event.type.startswith("charge.") else obj.get("id")
        return WebhookEvent(
            id=event.id,
            type=event.type,
            charge_id=charge_id if isinstance(charge_id, str) else None,
            data=dict(obj),
        )


def _intent_state(intent: PaymentIntent) -> dict[str, Any]:
    """Our ChargeStatus (and failure code) for a PaymentIntent's status."""
    status = intent.status
    if status == "succeeded":
        return {"status": "succeeded"}
    if status in ("requires_action", "processing"):
        return {"status": "requires_action"}  # `processing` completes through the webhook
    if status == "canceled":
        return {"status": "canceled"}
    error = intent.last_payment_error
    if status == "requires_payment_method" and error is not None:
        code = getattr(error, "decline_code", None) or getattr(error, "code", None)
        return {"status": "failed", "failure_code": str(code or "card_declined")}
    # requires_confirmation (or _payment_method, _capture): nothing charged yet.
    return {"status": "not_confirmed"}


def _decline_code(exc: CardError) -> str:
    error = exc.error
    decline = getattr(error, "decline_code", None) if error is not None else None
    return str(decline or exc.code or "card_declined")
