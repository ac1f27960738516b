"""Refunds: a cancelled paid booking is paid back through the gateway.

Registered with the bookings domain (`register_refund_handler`): runs in the cancellation's
transaction, so a gateway outage (503) leaves the booking confirmed and the cancellation can
simply be retried. The refund's idempotency key is derived from the payment, so a retry after
a refund that went through (but whose transaction did not commit) never pays back twice.
"""

from __future__ import annotations

import logging

from sqlalchemy.ext.asyncio import AsyncSession

from flightdeck.bookings.records import BookingRecord
from flightdeck.payments.errors import PaymentGatewayUnavailable
from flightdeck.payments.events import record_payment_event
from flightdeck.payments.gateways import get_gateway
from flightdeck.payments.gateways.base import GatewayUnavailable
from flightdeck.payments.models import Payment
from flightdeck.payments.repository import PaymentRepository
from flightdeck.platform.money import Money

log = logging.getLogger(__name__)
PAYMENT_REFUNDED = "payment.refunded"
REFUNDABLE = ("succeeded", "partially_refunded")


async def refund_booking_payment(session: AsyncSession, booking: BookingRecord) -> None:
    """Pays `booking.refund_amount` back on the booking's payment: payment `refunded` (all of
    it) or `partially_refunded`, event `payment.refunded`. 503 when the gateway is down."""
    refund = booking.refund_amount
    if refund is None or refund.amount == 0:
        return
    repo = PaymentRepository(session)
    payment = await repo.live_for_booking(booking.id)
    if payment is None or payment.status not in REFUNDABLE or payment.charge_id is None:
        log.warning("booking %s cancelled with a refund but no refundable payment", booking.id)
        return
    await _refund(session, repo, payment, refund, actor_id=None)


async def refund_unconfirmable(
    session: AsyncSession, repo: PaymentRepository, payment: Payment
) -> None:
    """A charge went through for a booking that can no longer be confirmed: all of it back."""
    await _refund(
        session,
        repo,
        payment,
        Money(amount=payment.amount, currency=payment.currency),
        actor_id=None,
        reason="booking_not_confirmable",
    )


async def _refund(
    session: AsyncSession,
    repo: PaymentRepository,
    payment: Payment,
    refund: Money,
    *,
    actor_id: str | None,
    reason: str = "booking_cancelled",
) -> None:
    assert payment.charge_id is not None
    refund = Money(
        amount=min(refund.amount, payment.amount - payment.refunded_amount),
        currency=payment.currency,
    )
    try:
        result = await get_gateway().refund(
            payment.charge_id,
            refund,
            idempotency_key=f"refund-{payment.id}-{payment.refunded_amount}",
        )
    except GatewayUnavailable as exc:
        raise PaymentGatewayUnavailable(
            "The payment processor is unavailable; the refund could not be made, try again"
        ) from exc
    refunded = payment.refunded_amount + refund.amount
    await repo.transition(
        payment,
        from_statuses=REFUNDABLE,
        status="refunded" if refunded >= payment.amount else "partially_refunded",
        refunded_amount=refunded,
        refund_id=result.refund_id,
    )
    await record_payment_event(
        session,
        PAYMENT_REFUNDED,
        payment,
        actor_id=actor_id,
        extra={"refund": refund.model_dump(), "reason": reason},
    )
