"""Payments: pay a booking on hold, complete a 3-D Secure payment, read a payment.

Money safety: the attempt is stored as `processing` and committed (with the request's
`Idempotency-Key` claim) BEFORE the gateway is called, and the gateway call carries an
idempotency key derived from the attempt's id. A second attempt for the same booking cannot
start while one is live (unique partial index), so a double submit charges once; a retried
gateway call with the same key never moves money twice.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from flightdeck.bookings.records import BookingRecord
from flightdeck.bookings.service import confirm_booking, get_booking_for_payment
from flightdeck.payments.errors import (
    AmountMismatch,
    BookingAlreadyPaid,
    PaymentGatewayUnavailable,
    PaymentInProgress,
    PaymentNotConfirmable,
    PaymentNotFound,
)
from flightdeck.payments.events import record_payment_event
from flightdeck.payments.gateways.base import GatewayResult, GatewayUnavailable, PaymentGateway
from flightdeck.payments.models import Payment
from flightdeck.payments.repository import LiveAttemptExists, PaymentRepository
from flightdeck.payments.schemas import (
    CardMethod,
    PaymentCreate,
    PaymentMethodIn,
    PaymentRead,
    WalletMethod,
    payment_to_read,
)
from flightdeck.platform.clock import utcnow
from flightdeck.platform.db import new_id
from flightdeck.platform.errors import Conflict
from flightdeck.platform.idempotency import release_key
from flightdeck.platform.security.auth import Principal

log = logging.getLogger(__name__)
PAYMENT_SUCCEEDED = "payment.succeeded"
PAYMENT_FAILED = "payment.failed"
GATEWAY_UNAVAILABLE = "gateway_unavailable"


@dataclass(frozen=True)
class IdempotencyClaim:
    """The request's `Idempotency-Key` claim, released if the attempt is abandoned."""

    scope: str
    key: str


async def create_payment(
    session: AsyncSession,
    principal: Principal,
    data: PaymentCreate,
    *,
    gateway: PaymentGateway,
    claim: IdempotencyClaim | None = None,
) -> PaymentRead:
    """Charges the caller's booking on hold for exactly its total. Success: payment
    `succeeded` and booking confirmed; decline: payment `failed` with the code, booking still
    on hold; 3-D Secure: `requires_action`. 404 `booking_not_found`, 409 `hold_expired` /
    `booking_not_payable` / `payment_in_progress`, 422 `amount_mismatch`, 503
    `payment_gateway_unavailable` (nothing charged)."""
    booking = await get_booking_for_payment(session, data.booking_id, principal.user_id)
    if data.amount is not None and data.amount != booking.total_price:
        raise AmountMismatch(details={"total": booking.total_price.model_dump()})
    repo = PaymentRepository(session)
    payment = await _start_attempt(repo, booking, data.method, gateway.name)
    # The attempt is durable before any money moves: a crash or retry finds it.
    await session.commit()
    try:
        result = await gateway.authorize_and_capture(
            booking.total_price, data.method, idempotency_key=f"payment-{payment.id}"
        )
    except GatewayUnavailable as exc:
        log.warning("payment %s abandoned: gateway unavailable (%s)", payment.id, exc)
        await _abandon(session, repo, payment, claim)
        raise PaymentGatewayUnavailable() from exc
    return await _apply_result(session, repo, payment, result, claim)


async def confirm_payment(
    session: AsyncSession, principal: Principal, payment_id: str, *, gateway: PaymentGateway
) -> PaymentRead:
    """Completes a `requires_action` payment (the customer passed 3-D Secure): succeeded and
    the booking confirmed. 404 unless the caller's; 409 `payment_not_confirmable`."""
    repo = PaymentRepository(session)
    payment = await repo.get(payment_id, for_update=True)
    if payment is None or payment.user_id != principal.user_id:
        raise PaymentNotFound()
    if payment.status != "requires_action" or payment.charge_id is None:
        raise PaymentNotConfirmable(details={"status": payment.status})
    try:
        result = await gateway.complete_action(
            payment.charge_id, idempotency_key=f"payment-{payment.id}-confirm"
        )
    except GatewayUnavailable as exc:
        raise PaymentGatewayUnavailable() from exc
    if result.status == "requires_action":
        raise PaymentNotConfirmable(
            "The customer has not completed authentication yet", details={"status": payment.status}
        )
    if result.status != "succeeded":
        await repo.transition(
            payment,
            from_statuses=("requires_action",),
            status="failed",
            failure_code=result.failure_code or "authentication_failed",
        )
        await record_payment_event(session, PAYMENT_FAILED, payment)
        return payment_to_read(payment)
    await complete_succeeded(session, repo, payment, from_status="requires_action")
    return payment_to_read(payment)


async def get_payment(session: AsyncSession, principal: Principal, payment_id: str) -> PaymentRead:
    """The payment, to its owner and admins; 404 otherwise."""
    payment = await PaymentRepository(session).get(payment_id)
    if payment is None or not (principal.role == "admin" or payment.user_id == principal.user_id):
        raise PaymentNotFound()
    return payment_to_read(payment)


async def complete_succeeded(
    session: AsyncSession, repo: PaymentRepository, payment: Payment, *, from_status: str
) -> bool:
    """Marks the payment `succeeded` and confirms its booking, with `payment.succeeded`. If
    the hold ran out meanwhile the charge is paid back at once (payment `refunded`) and the
    booking's 409 is raised, after committing the refund. False if the payment had moved on."""
    if not await repo.transition(payment, from_statuses=(from_status,), status="succeeded"):
        return False
    try:
        await confirm_booking(session, payment.booking_id, payment.id)
    except Conflict:
        # Charged, but the booking can no longer be confirmed (hold expired): money back.
        from flightdeck.payments.refunds import refund_unconfirmable

        await refund_unconfirmable(session, repo, payment)
        await session.commit()
        raise
    await record_payment_event(session, PAYMENT_SUCCEEDED, payment)
    return True


async def _start_attempt(
    repo: PaymentRepository, booking: BookingRecord, method: PaymentMethodIn, gateway: str
) -> Payment:
    payment = Payment(
        id=new_id(),
        booking_id=booking.id,
        user_id=booking.user_id,
        pnr=booking.pnr,
        amount=booking.total_price.amount,
        currency=booking.total_price.currency,
        status="processing",
        method_type=method.type,
        wallet_provider=method.provider if isinstance(method, WalletMethod) else None,
        last4=method.last4 if isinstance(method, CardMethod) else None,
        exp_month=method.exp_month if isinstance(method, CardMethod) else None,
        exp_year=method.exp_year if isinstance(method, CardMethod) else None,
        gateway=gateway,
        created_at=utcnow(),
        updated_at=utcnow(),
    )
    try:
        return await repo.add_attempt(payment)
    except LiveAttemptExists:
        await repo.session.rollback()
        live = await repo.live_for_booking(booking.id)
        if live is not None and live.status in ("processing", "requires_action"):
            raise PaymentInProgress(details={"payment_id": live.id}) from None
        raise BookingAlreadyPaid(details={"booking_id": booking.id}) from None


async def _apply_result(
    session: AsyncSession,
    repo: PaymentRepository,
    payment: Payment,
    result: GatewayResult,
    claim: IdempotencyClaim | None,
) -> PaymentRead:
    card = {"brand": result.brand} if result.brand else {}
    if result.status == "failed":
        await repo.transition(
            payment,
            from_statuses=("processing",),
            status="failed",
            failure_code=result.failure_code,
            **card,
        )
        await record_payment_event(session, PAYMENT_FAILED, payment)
        return payment_to_read(payment)
    charged = {"charge_id": result.charge_id, **card}
    if result.status == "requires_action":
        await repo.transition(
            payment, from_statuses=("processing",), status="requires_action", **charged
        )
        return payment_to_read(payment)
    await repo.transition(payment, from_statuses=("processing",), **charged)
    try:
        await complete_succeeded(session, repo, payment, from_status="processing")
    except Conflict:
        if claim is not None:
            await release_key(session, scope=claim.scope, key=claim.key)
            await session.commit()
        raise
    return payment_to_read(payment)


async def _abandon(
    session: AsyncSession,
    repo: PaymentRepository,
    payment: Payment,
    claim: IdempotencyClaim | None,
) -> None:
    """The gateway never answered: the attempt is `failed` and the key free for a retry."""
    await repo.transition(
        payment, from_statuses=("processing",), status="failed", failure_code=GATEWAY_UNAVAILABLE
    )
    if claim is not None:
        await release_key(session, scope=claim.scope, key=claim.key)
    await session.commit()
