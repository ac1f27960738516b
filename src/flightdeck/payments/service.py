"""Payments: pay a booking on hold, complete a 3-D Secure payment, read a payment.

Money safety: the attempt is stored as `processing` and committed (with the request's
`Idempotency-Key` claim) BEFORE the gateway is called, and every gateway call carries an
idempotency key derived from the attempt's id. A second attempt for the same booking cannot
start while one is live (unique partial index), so a double submit charges once.

A charge takes two gateway calls. `create_charge` registers it without moving money; its id
is stored on the attempt and committed. If that call fails nothing can have been charged:
the attempt is `failed`, its key released, 503. Then `confirm_charge` takes the money. If
that answer is lost (timeout, outage) the outcome is unknown: the attempt stays `processing`
(key kept, 202; the booking cannot be paid again meanwhile) until the reconciler
(reconciler.py) asks the processor what happened and settles it the same way.
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
from flightdeck.payments.segments import capture_segments, record_segments
from flightdeck.platform.clock import utcnow
from flightdeck.platform.db import commit_mid_request, new_id
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


def claim_scope(user_id: str) -> str:
    """The scope of a user's `Idempotency-Key`s on POST /payments."""
    return f"{user_id}:POST /payments"


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
    on hold; 3-D Secure: `requires_action`; the processor's answer lost: `processing` (the
    reconciler settles it). 404 `booking_not_found`, 409 `hold_expired` /
    `booking_not_payable` / `payment_in_progress`, 422 `amount_mismatch`, 503
    `payment_gateway_unavailable` (nothing charged)."""
    booking = await get_booking_for_payment(session, data.booking_id, principal.user_id)
    if data.amount is not None and data.amount != booking.total_price:
        raise AmountMismatch(details={"total": booking.total_price.model_dump()})
    repo = PaymentRepository(session)
    payment = await _start_attempt(repo, booking, data.method, gateway.name, claim)
    # The attempt is durable before any call: a crash or retry finds it.
    await commit_mid_request(session)
    try:
        created = await gateway.create_charge(
            booking.total_price,
            data.method,
            idempotency_key=f"payment-{payment.id}",
            reference=payment.id,
        )
    except GatewayUnavailable as exc:
        log.warning("payment %s abandoned: gateway unavailable (%s)", payment.id, exc)
        await _abandon(session, repo, payment, claim)
        raise PaymentGatewayUnavailable() from exc
    if created.status == "failed" or created.charge_id is None:
        await settle_attempt(session, repo, payment, created)
        return payment_to_read(payment)
    if not await repo.transition(
        payment,
        from_statuses=("processing",),
        charge_id=created.charge_id,
        **_card_details(created),
    ):
        # This request stalled past the reconciler's threshold and the attempt was settled
        # without it: never confirm that charge (nothing moved; it is left unconfirmed).
        await commit_mid_request(session)
        await session.refresh(payment)
        return payment_to_read(payment)
    # The charge's id is durable before money can move: the reconciler can always ask.
    await commit_mid_request(session)
    try:
        result = await gateway.confirm_charge(
            created.charge_id, idempotency_key=f"payment-{payment.id}-confirm"
        )
    except GatewayUnavailable as exc:
        log.warning("payment %s: outcome unknown (%s), left to the reconciler", payment.id, exc)
        return payment_to_read(payment)
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
    repo = PaymentRepository(session)
    payment = await repo.get(payment_id)
    if payment is None or not (principal.role == "admin" or payment.user_id == principal.user_id):
        raise PaymentNotFound()
    return payment_to_read(payment, await repo.refunds_for(payment.id))


async def settle_attempt(
    session: AsyncSession, repo: PaymentRepository, payment: Payment, result: GatewayResult
) -> bool:
    """Moves a `processing` attempt to what the processor reports: `succeeded` (booking
    confirmed, see `complete_succeeded`), `failed` (declined with its code, or `canceled`:
    nothing charged) or `requires_action`, with its event. False if the report is not final
    (`not_confirmed`) or the attempt had moved on (settled by another server)."""
    card = _card_details(result)
    if result.status in ("failed", "canceled"):
        code = result.failure_code if result.status == "failed" else GATEWAY_UNAVAILABLE
        moved = await repo.transition(
            payment,
            from_statuses=("processing",),
            status="failed",
            failure_code=code or "card_declined",
            **card,
        )
        if moved:
            await record_payment_event(session, PAYMENT_FAILED, payment)
        return moved
    if result.status == "requires_action":
        return await repo.transition(
            payment, from_statuses=("processing",), status="requires_action", **card
        )
    if result.status == "succeeded":
        if card:
            await repo.transition(payment, from_statuses=("processing",), **card)
        return await complete_succeeded(session, repo, payment, from_status="processing")
    return False


async def complete_succeeded(
    session: AsyncSession, repo: PaymentRepository, payment: Payment, *, from_status: str
) -> bool:
    """Marks the payment `succeeded` and confirms its booking, with `payment.succeeded`. If
    the booking can no longer be confirmed (hold expired, cancelled) the whole charge is
    queued to be paid back (the refund worker makes it) and the booking's 409 is raised,
    after committing. False if the payment had moved on."""
    if not await repo.transition(payment, from_statuses=(from_status,), status="succeeded"):
        return False
    await capture_segments(session, payment.id)
    try:
        await confirm_booking(session, payment.booking_id, payment.id)
    except Conflict:
        # Charged, but the booking can no longer be confirmed: money back.
        from flightdeck.payments.refunds import refund_unconfirmable

        await refund_unconfirmable(session, repo, payment)
        await commit_mid_request(session)
        raise
    await record_payment_event(session, PAYMENT_SUCCEEDED, payment)
    return True


async def _start_attempt(
    repo: PaymentRepository,
    booking: BookingRecord,
    method: PaymentMethodIn,
    gateway: str,
    claim: IdempotencyClaim | None,
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
        idempotency_key=claim.key if claim is not None else None,
        created_at=utcnow(),
        updated_at=utcnow(),
    )
    try:
        await repo.add_attempt(payment)
    except LiveAttemptExists:
        await repo.session.rollback()
        live = await repo.live_for_booking(booking.id)
        if live is not None and live.status in ("processing", "requires_action"):
            raise PaymentInProgress(details={"payment_id": live.id}) from None
        raise BookingAlreadyPaid(details={"booking_id": booking.id}) from None
    await record_segments(repo.session, payment, booking)
    return payment


async def _apply_result(
    session: AsyncSession,
    repo: PaymentRepository,
    payment: Payment,
    result: GatewayResult,
    claim: IdempotencyClaim | None,
) -> PaymentRead:
    try:
        await settle_attempt(session, repo, payment, result)
    except Conflict:
        # Charged for a booking that can no longer be confirmed: the refund is committed;
        # the key is freed (the 409 is not kept for it).
        if claim is not None:
            await release_key(session, scope=claim.scope, key=claim.key)
            await commit_mid_request(session)
        raise
    return payment_to_read(payment)


async def _abandon(
    session: AsyncSession,
    repo: PaymentRepository,
    payment: Payment,
    claim: IdempotencyClaim | None,
) -> None:
    """The charge could not even be created: the attempt is `failed` and the key free."""
    await repo.transition(
        payment, from_statuses=("processing",), status="failed", failure_code=GATEWAY_UNAVAILABLE
    )
    if claim is not None:
        await release_key(session, scope=claim.scope, key=claim.key)
    await commit_mid_request(session)


def _card_details(result: GatewayResult) -> dict[str, str]:
    """What the processor says about the card (the brand) worth keeping."""
    return {"brand": result.brand} if result.brand else {}
