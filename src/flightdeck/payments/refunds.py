"""Refunds: money to pay back is queued in a transaction and paid back by the refund worker.

`refund_booking_payment` is registered with the bookings domain (`register_refund_handler`)
and runs in the cancellation's transaction: it only writes a `pending` row in
`payment_refunds` (never calls the gateway), so a gateway outage never fails or delays a
cancellation. A charge that went through for a booking that can no longer be confirmed is
queued the same way (`refund_unconfirmable`). The worker (refund_worker.py) is woken as soon
as such a transaction commits, calls the gateway with the key `refund-<refund id>` (so a
repeated call pays back once) and then `complete_refund` marks the refund and its payment.
"""

from __future__ import annotations

import logging

from sqlalchemy.ext.asyncio import AsyncSession

from flightdeck.bookings.records import BookingRecord
from flightdeck.payments.events import record_payment_event
from flightdeck.payments.gateways.base import RefundResult
from flightdeck.payments.models import Payment, PaymentRefund
from flightdeck.payments.repository import PaymentRepository
from flightdeck.payments.segments import share_refunds
from flightdeck.platform.clock import utcnow
from flightdeck.platform.db import new_id
from flightdeck.platform.money import Money
from flightdeck.platform.wakeup import CommitSignal

log = logging.getLogger(__name__)
PAYMENT_REFUNDED = "payment.refunded"
REFUNDABLE = ("succeeded", "partially_refunded")
BOOKING_CANCELLED = "booking_cancelled"
BOOKING_NOT_CONFIRMABLE = "booking_not_confirmable"


async def refund_booking_payment(session: AsyncSession, booking: BookingRecord) -> None:
    """Queues `booking.refund_amount` to be paid back on the booking's payment, in the
    cancellation's transaction. Never calls the gateway."""
    refund = booking.refund_amount
    if refund is None or refund.amount == 0:
        return
    repo = PaymentRepository(session)
    payment = await repo.live_for_booking(booking.id)
    if payment is None or payment.status not in REFUNDABLE or payment.charge_id is None:
        log.warning("booking %s cancelled with a refund but no refundable payment", booking.id)
        return
    await queue_refund(session, repo, payment, refund.amount, reason=BOOKING_CANCELLED)


async def refund_unconfirmable(
    session: AsyncSession, repo: PaymentRepository, payment: Payment
) -> None:
    """A charge went through for a booking that can no longer be confirmed: all of it back."""
    await queue_refund(session, repo, payment, payment.amount, reason=BOOKING_NOT_CONFIRMABLE)


async def queue_refund(
    session: AsyncSession,
    repo: PaymentRepository,
    payment: Payment,
    amount: int,
    *,
    reason: str,
) -> PaymentRefund | None:
    """A `pending` refund of `amount` (at most what is neither refunded nor queued yet) in
    the caller's transaction; the refund worker is woken when it commits."""
    outstanding = payment.amount - payment.refunded_amount
    outstanding -= await repo.pending_refund_total(payment.id)
    amount = min(amount, outstanding)
    if amount <= 0:
        log.warning("payment %s: nothing left to refund (%s)", payment.id, reason)
        return None
    now = utcnow()
    refund = await repo.add_refund(
        PaymentRefund(
            id=new_id(),
            payment_id=payment.id,
            amount=amount,
            currency=payment.currency,
            reason=reason,
            status="pending",
            attempts=0,
            next_attempt_at=now,
            created_at=now,
            updated_at=now,
        )
    )
    REFUND_QUEUED.mark(session)
    return refund


async def complete_refund(
    session: AsyncSession, repo: PaymentRepository, refund: PaymentRefund, result: RefundResult
) -> bool:
    """The processor paid the refund back: refund `succeeded`, the payment `refunded` (all of
    it) or `partially_refunded` with its `refunded_amount`, event `payment.refunded`, in the
    caller's transaction. False if another worker had completed it."""
    if not await repo.mark_refund_succeeded(refund, gateway_refund_id=result.refund_id):
        return False
    payment = await repo.get(refund.payment_id, for_update=True)
    if payment is None:
        log.error("refund %s paid back for a payment that no longer exists", refund.id)
        return True
    refunded = payment.refunded_amount + refund.amount
    changes: dict[str, object] = {"refunded_amount": refunded, "refund_id": result.refund_id}
    if payment.status in REFUNDABLE:  # a disputed payment stays disputed
        changes["status"] = "refunded" if refunded >= payment.amount else "partially_refunded"
    await repo.transition(payment, from_statuses=(payment.status,), **changes)
    await share_refunds(session, payment.id, refunded)
    await record_payment_event(
        session,
        PAYMENT_REFUNDED,
        payment,
        extra={
            "refund": Money(amount=refund.amount, currency=refund.currency).model_dump(),
            "refund_id": refund.id,
            "reason": refund.reason,
        },
    )
    return True


# --- waking the refund worker after a commit that queued a refund -------------------------

REFUND_QUEUED = CommitSignal("refunds")
# Calls `listener()` after each commit of a session that queued a refund.
add_refund_listener = REFUND_QUEUED.add_listener
remove_refund_listener = REFUND_QUEUED.remove_listener
