"""The payment reconciler: settles attempts whose outcome was never learnt.

An attempt stays `processing` when the processor's answer to the confirmation was lost (or the
server died mid-payment). Every `payment_reconcile_seconds`, in every server, attempts
`processing` for longer than `payment_reconcile_after_seconds` (default twice the gateway
timeout, so no request is still waiting for an answer) are settled:

- no charge id: the charge was never created (or never stored), so nothing can be charged
  (it is never confirmed) → `failed` (`gateway_unavailable`);
- otherwise the processor is asked (`retrieve`): succeeded → `succeeded` and the booking
  confirmed as on the normal path (a booking that can no longer be confirmed gets the charge
  back through the refund worker); declined → `failed` with the code; `requires_action` →
  `requires_action`; not confirmed → cancelled at the processor, then `failed` (if the cancel
  reports the charge went through after all, it is completed as succeeded);
- gateway still unavailable → left for the next pass.

An attempt settled as `failed` frees its `Idempotency-Key` (nothing was charged), like a 503
does. Several servers may reconcile at once: every change is a compare-and-set from
`processing`, and the processor's calls carry idempotency keys.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from flightdeck.payments.gateways import get_gateway
from flightdeck.payments.gateways.base import GatewayResult, GatewayUnavailable
from flightdeck.payments.models import Payment
from flightdeck.payments.repository import PaymentRepository
from flightdeck.payments.service import claim_scope, settle_attempt
from flightdeck.platform.clock import utcnow
from flightdeck.platform.errors import Conflict
from flightdeck.platform.idempotency import release_key
from flightdeck.platform.settings import Settings
from flightdeck.platform.worker import BackgroundWorker

log = logging.getLogger(__name__)
BATCH_SIZE = 100


@dataclass(frozen=True)
class Reconciled:
    """What the reconciler did with one attempt: its status now (`processing`: left for the
    next pass) and why."""

    payment_id: str
    status: str
    detail: str = ""


def stale_after(settings: Settings) -> timedelta:
    """How long an attempt stays `processing` before the reconciler settles it."""
    seconds = settings.payment_reconcile_after_seconds
    return timedelta(seconds=seconds or 2 * settings.gateway_timeout_seconds)


async def reconcile_payments(
    sessionmaker: async_sessionmaker[AsyncSession],
    *,
    older_than: timedelta,
    now: datetime | None = None,
) -> list[Reconciled]:
    """Settles the attempts `processing` since before `now - older_than` (one batch, oldest
    first); returns what became of each. An attempt that fails to settle is logged and
    skipped."""
    before = (now or utcnow()) - older_than
    async with sessionmaker() as session, session.begin():
        stale = await PaymentRepository(session).stale_processing(before=before, limit=BATCH_SIZE)
    results: list[Reconciled] = []
    for payment in stale:
        try:
            outcome = await _reconcile(sessionmaker, payment)
        except Exception:
            log.exception("could not reconcile payment %s", payment.id)
            continue
        if outcome is not None:
            results.append(outcome)
    if results:
        log.info(
            "payment reconciler: %s",
            ", ".join(f"{r.payment_id} {r.status}" for r in results),
        )
    return results


async def _reconcile(
    sessionmaker: async_sessionmaker[AsyncSession], payment: Payment
) -> Reconciled | None:
    if payment.charge_id is None:
        nothing = GatewayResult(status="canceled")
        return await _settle(sessionmaker, payment, nothing, "the charge was never created")
    gateway = get_gateway()
    try:
        state = await gateway.retrieve(payment.charge_id)
        if state.status == "not_confirmed":
            state = await gateway.cancel(
                payment.charge_id, idempotency_key=f"payment-{payment.id}-cancel"
            )
    except GatewayUnavailable as exc:
        return Reconciled(payment.id, "processing", f"gateway unavailable ({exc}); next pass")
    if state.status == "not_confirmed":
        return Reconciled(payment.id, "processing", "the processor has not settled it yet")
    details = {
        "canceled": "never confirmed: cancelled at the processor",
        "failed": f"declined ({state.failure_code})",
        "succeeded": "the processor took the money",
        "requires_action": "waits for the customer",
    }
    return await _settle(sessionmaker, payment, state, details[state.status])


async def _settle(
    sessionmaker: async_sessionmaker[AsyncSession],
    payment: Payment,
    state: GatewayResult,
    detail: str,
) -> Reconciled | None:
    """Applies the processor's state in one transaction; None if another server had."""
    async with sessionmaker() as session:
        repo = PaymentRepository(session)
        try:
            settled = await settle_attempt(session, repo, payment, state)
        except Conflict as exc:
            # Charged for a booking that can no longer be confirmed: the refund is queued
            # and committed (complete_succeeded).
            return Reconciled(payment.id, payment.status, f"{detail}; refunded: {exc.message}")
        if not settled:
            await session.rollback()
            return None
        if payment.status == "failed" and payment.idempotency_key is not None:
            await release_key(
                session, scope=claim_scope(payment.user_id), key=payment.idempotency_key
            )
        await session.commit()
    return Reconciled(payment.id, payment.status, detail)


def build_payment_reconciler(
    sessionmaker: async_sessionmaker[AsyncSession], settings: Settings
) -> BackgroundWorker | None:
    """The reconciler: a pass every `payment_reconcile_seconds`, an error logged and the next
    round run as usual (None when `payment_reconcile_seconds` is 0: disabled)."""
    if settings.payment_reconcile_seconds <= 0:
        return None

    async def reconcile_round() -> None:
        await reconcile_payments(sessionmaker, older_than=stale_after(settings))

    return BackgroundWorker(
        "payment-reconciler", reconcile_round, interval=settings.payment_reconcile_seconds
    )
