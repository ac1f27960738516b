"""`POST /payments/webhooks/{provider}`: signed events from the payment processor.

The provider's gateway verifies the signature (sandbox: `FlightDeck-Signature`, HMAC-SHA256
over `t.body`, at most five minutes old; Stripe: `Stripe-Signature`). Each event id is stored
in `payment_webhook_events` in the same transaction as its effect, so a replay changes
nothing. Events: `payment_intent.succeeded` completes a `requires_action` payment (3-D Secure
finished asynchronously) or a `processing` one (the confirmation's answer was lost; sooner
than the reconciler); `charge.dispute.created` marks the payment `disputed`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from contextlib import suppress
from typing import Literal

from sqlalchemy.ext.asyncio import AsyncSession

from flightdeck.payments.errors import (
    InvalidSignature,
    PaymentWebhooksDisabled,
    StaleWebhook,
    UnknownProvider,
)
from flightdeck.payments.events import record_payment_event
from flightdeck.payments.gateways.base import (
    InvalidWebhook,
    PaymentGateway,
    WebhookEvent,
    WebhooksNotConfigured,
)
from flightdeck.payments.repository import PaymentRepository
from flightdeck.payments.service import complete_succeeded
from flightdeck.platform.clock import utcnow
from flightdeck.platform.errors import Conflict

log = logging.getLogger(__name__)
PAYMENT_DISPUTED = "payment.disputed"
DISPUTABLE = ("succeeded", "partially_refunded", "refunded")
# A charge the processor reports succeeded: waiting for 3-D Secure, or whose answer was lost.
COMPLETABLE = ("requires_action", "processing")


def verify_event(
    gateway: PaymentGateway,
    provider: str,
    raw: bytes,
    headers: Mapping[str, str],
) -> WebhookEvent:
    """The verified event; 404 for another provider than the configured one, 404
    `feature_not_configured` without a webhook secret, 400 `invalid_signature` /
    `stale_webhook`."""
    if provider != gateway.name:
        raise UnknownProvider(details={"provider": provider})
    try:
        return gateway.parse_webhook(raw, headers)
    except WebhooksNotConfigured as exc:
        raise PaymentWebhooksDisabled() from exc
    except InvalidWebhook as exc:
        if exc.stale:
            raise StaleWebhook() from exc
        raise InvalidSignature() from exc


async def handle_event(
    session: AsyncSession, provider: str, event: WebhookEvent
) -> Literal["processed", "duplicate", "ignored"]:
    """Applies the event once: "processed", "duplicate" (seen before) or "ignored"."""
    repo = PaymentRepository(session)
    stored = await repo.record_webhook_event(
        provider=provider, event_id=event.id, event_type=event.type, at=utcnow()
    )
    if stored is None:
        return "duplicate"
    payment = await repo.by_charge(provider, event.charge_id) if event.charge_id else None
    if payment is None:
        log.info("payment webhook %s (%s) for no known payment", event.id, event.type)
        return "ignored"
    stored.payment_id = payment.id
    if event.type == "payment_intent.succeeded" and payment.status in COMPLETABLE:
        # Conflict: the hold ran out, so the charge is refunded (and that committed).
        with suppress(Conflict):
            await complete_succeeded(session, repo, payment, from_status=payment.status)
        return "processed"
    if event.type == "charge.dispute.created" and payment.status in DISPUTABLE:
        await repo.transition(payment, from_statuses=DISPUTABLE, status="disputed")
        await record_payment_event(session, PAYMENT_DISPUTED, payment)
        return "processed"
    return "ignored"
