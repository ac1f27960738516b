"""The `payment.*` events, written to the outbox in the caller's transaction."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from flightdeck.payments.models import Payment
from flightdeck.platform.events.outbox import record_event
from flightdeck.platform.money import Money


async def record_payment_event(
    session: AsyncSession,
    event_type: str,
    payment: Payment,
    *,
    actor_id: str | None = None,
    extra: dict[str, Any] | None = None,
) -> None:
    """Payload: payment_id, booking_id, pnr, user_id, amount (Money), status, failure_code."""
    payload: dict[str, Any] = {
        "payment_id": payment.id,
        "booking_id": payment.booking_id,
        "pnr": payment.pnr,
        "user_id": payment.user_id,
        "amount": Money(amount=payment.amount, currency=payment.currency).model_dump(),
        "status": payment.status,
        "method_type": payment.method_type,
        "failure_code": payment.failure_code,
    }
    payload.update(extra or {})
    await record_event(
        session,
        event_type,
        aggregate_type="payment",
        aggregate_id=payment.id,
        payload=payload,
        actor_id=actor_id,
    )
