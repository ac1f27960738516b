"""The refund worker: pays back the refunds queued in `payment_refunds`, in every server.

A commit that queued a refund wakes it at once, so a refund is normally made within
milliseconds of the cancellation; it also looks every `payment_refund_poll_seconds`. Each
refund is sent with the idempotency key `refund-<refund id>` and marked `succeeded` (with its
payment `refunded`/`partially_refunded` and `payment.refunded`) in one transaction. While the
gateway is unavailable a refund waits 1 s, then 2 s, 4 s … up to
`payment_refund_max_backoff_seconds` between attempts.

Several workers at once make each refund once. PostgreSQL: a refund is claimed
`FOR UPDATE SKIP LOCKED` and kept locked while the gateway is called. SQLite (no row locks,
and a write transaction would stop every writer while the gateway answers): a refund is
leased by a compare-and-set on its due time, the gateway called outside any transaction and
the outcome recorded in a second one; a worker that dies meanwhile leaves the lease to run
out, and the retry carries the same idempotency key.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from flightdeck.payments.gateways import get_gateway
from flightdeck.payments.gateways.base import GatewayUnavailable, RefundResult
from flightdeck.payments.models import Payment, PaymentRefund
from flightdeck.payments.refunds import REFUND_QUEUED, complete_refund
from flightdeck.payments.repository import PaymentRepository
from flightdeck.platform.clock import utcnow
from flightdeck.platform.money import Money
from flightdeck.platform.settings import Settings
from flightdeck.platform.worker import BackgroundWorker, Backoff

log = logging.getLogger(__name__)
INITIAL_BACKOFF_SECONDS = 1.0  # a refund the gateway failed waits this long, then doubled
MAX_REFUNDS_PER_PASS = 500


@dataclass(frozen=True)
class RefundOutcome:
    """What one attempt did: `succeeded`, `retrying` (the gateway failed) or `skipped`
    (another worker had it)."""

    refund_id: str
    payment_id: str
    amount: Money
    outcome: str
    detail: str = ""


class RefundWorker(BackgroundWorker):
    """Makes due refunds: one pass (`refund_due`) per round of its background loop, every
    `poll_seconds` or as soon as a commit queued a refund."""

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        *,
        poll_seconds: float = 1.0,
        max_backoff_seconds: float = 300.0,
        lease_seconds: float = 60.0,
    ) -> None:
        super().__init__(
            "refund-worker", self._refund_round, interval=poll_seconds, wake_on=REFUND_QUEUED
        )
        self._sessionmaker = sessionmaker
        # Per refund, not per round: a failed refund is due again after this backoff.
        self.refund_backoff = Backoff(INITIAL_BACKOFF_SECONDS, max_backoff_seconds)
        self.lease = timedelta(seconds=lease_seconds)
        # One pass at a time in this process: `refund_due()` returns only after any pass
        # already under way has finished, so every refund due when it was called was tried.
        self._pass_lock = asyncio.Lock()

    @classmethod
    def from_settings(
        cls, sessionmaker: async_sessionmaker[AsyncSession], settings: Settings
    ) -> RefundWorker:
        return cls(
            sessionmaker,
            poll_seconds=settings.payment_refund_poll_seconds,
            max_backoff_seconds=settings.payment_refund_max_backoff_seconds,
            # Beyond a refund call with its retry, however slow the gateway.
            lease_seconds=max(60.0, 4 * settings.gateway_timeout_seconds),
        )

    # --- one pass ----------------------------------------------------------------------------

    async def refund_due(self) -> list[RefundOutcome]:
        """Attempts every refund due now, oldest first; stops early when the gateway is
        unavailable (the others would fail too). Returns what happened to each."""
        async with self._pass_lock:
            outcomes: list[RefundOutcome] = []
            tried: set[str] = set()
            for _ in range(MAX_REFUNDS_PER_PASS):
                outcome = await self._refund_next(tried)
                if outcome is None:
                    break
                tried.add(outcome.refund_id)
                outcomes.append(outcome)
                if outcome.outcome == "retrying":
                    break
            return outcomes

    async def retry_failed(self) -> list[RefundOutcome]:
        """Makes the refunds waiting after a failure due now and runs a pass (operators)."""
        async with self._sessionmaker() as session, session.begin():
            await PaymentRepository(session).make_failed_refunds_due(utcnow())
        return await self.refund_due()

    async def _refund_next(self, tried: set[str]) -> RefundOutcome | None:
        async with self._sessionmaker() as session:
            repo = PaymentRepository(session)
            if session.get_bind().dialect.name == "postgresql":
                async with session.begin():
                    refund = await repo.next_due_refund(utcnow(), lock=True, skip=tried)
                    if refund is None:
                        return None
                    answer = await self._call_gateway(repo, refund)
                    return await self._record(session, repo, refund, answer)
            async with session.begin():
                refund = await repo.next_due_refund(utcnow(), lock=False, skip=tried)
                if refund is None:
                    return None
                leased = await repo.lease_refund(refund, until=utcnow() + self.lease)
                payment = await repo.get(refund.payment_id)
            if not leased:
                return _outcome(refund, "skipped", "another worker has it")
            answer = await self._call_gateway(None, refund, payment)
            async with session.begin():
                return await self._record(session, repo, refund, answer)

    async def _call_gateway(
        self,
        repo: PaymentRepository | None,
        refund: PaymentRefund,
        payment: Payment | None = None,
    ) -> RefundResult | GatewayUnavailable:
        """The gateway's answer to the refund (`repo`: read the payment first)."""
        if repo is not None:
            payment = await repo.get(refund.payment_id)
        if payment is None or payment.charge_id is None:
            return GatewayUnavailable(f"payment {refund.payment_id} has no charge to refund")
        amount = Money(amount=refund.amount, currency=refund.currency)
        try:
            return await get_gateway().refund(
                payment.charge_id, amount, idempotency_key=f"refund-{refund.id}"
            )
        except GatewayUnavailable as exc:
            return exc

    async def _record(
        self,
        session: AsyncSession,
        repo: PaymentRepository,
        refund: PaymentRefund,
        answer: RefundResult | GatewayUnavailable,
    ) -> RefundOutcome:
        if isinstance(answer, RefundResult):
            done = await complete_refund(session, repo, refund, answer)
            return _outcome(refund, "succeeded" if done else "skipped")
        delay = self.refund_backoff.delay(refund.attempts + 1)
        await repo.record_refund_failure(
            refund, error=str(answer), next_attempt_at=utcnow() + timedelta(seconds=delay)
        )
        log.warning(
            "refund %s of payment %s failed (%s); retrying in %gs",
            refund.id,
            refund.payment_id,
            answer,
            delay,
        )
        return _outcome(refund, "retrying", str(answer))

    async def _refund_round(self) -> None:
        await self.refund_due()


def _outcome(refund: PaymentRefund, outcome: str, detail: str = "") -> RefundOutcome:
    return RefundOutcome(
        refund_id=refund.id,
        payment_id=refund.payment_id,
        amount=Money(amount=refund.amount, currency=refund.currency),
        outcome=outcome,
        detail=detail,
    )


def build_refund_worker(
    sessionmaker: async_sessionmaker[AsyncSession], settings: Settings
) -> RefundWorker | None:
    """The app's refund worker, not started (None when `payment_refund_poll_seconds` is 0)."""
    if settings.payment_refund_poll_seconds <= 0:
        return None
    return RefundWorker.from_settings(sessionmaker, settings)
