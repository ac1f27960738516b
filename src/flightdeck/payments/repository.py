"""All SQL of payments."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from flightdeck.payments.models import (
    Payment,
    PaymentRefund,
    PaymentSegment,
    PaymentWebhookEvent,
)
from flightdeck.platform.clock import utcnow
from flightdeck.platform.db import new_id


class LiveAttemptExists(Exception):
    """The booking already has a payment that is not `failed`."""


class PaymentRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add_attempt(self, payment: Payment) -> Payment:
        """Inserts a new attempt; LiveAttemptExists if the booking has a live one (the unique
        partial index decides between concurrent attempts)."""
        self.session.add(payment)
        try:
            await self.session.flush()
        except IntegrityError as exc:
            raise LiveAttemptExists() from exc
        return payment

    async def get(self, payment_id: str, *, for_update: bool = False) -> Payment | None:
        statement = select(Payment).where(Payment.id == payment_id)
        if for_update:
            statement = statement.with_for_update()
        result = await self.session.scalars(statement.execution_options(populate_existing=True))
        return result.first()

    async def live_for_booking(self, booking_id: str) -> Payment | None:
        result = await self.session.scalars(
            select(Payment)
            .where(Payment.booking_id == booking_id, Payment.status != "failed")
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        return result.first()

    async def by_charge(self, gateway: str, charge_id: str) -> Payment | None:
        result = await self.session.scalars(
            select(Payment)
            .where(Payment.gateway == gateway, Payment.charge_id == charge_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        return result.first()

    async def stale_processing(self, *, before: datetime, limit: int) -> list[Payment]:
        """Attempts still `processing` that last changed before `before`, oldest first."""
        result = await self.session.scalars(
            select(Payment)
            .where(Payment.status == "processing", Payment.updated_at <= before)
            .order_by(Payment.updated_at)
            .limit(limit)
            .execution_options(populate_existing=True)
        )
        return list(result.all())

    async def transition(
        self, payment: Payment, *, from_statuses: tuple[str, ...], **values: Any
    ) -> bool:
        """Conditional update (only from one of `from_statuses`); True if it applied."""
        values["updated_at"] = utcnow()
        result = await self.session.execute(
            update(Payment)
            .where(Payment.id == payment.id, Payment.status.in_(from_statuses))
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        applied = bool(getattr(result, "rowcount", 0))
        if applied:
            for name, value in values.items():
                setattr(payment, name, value)
        return applied

    async def record_webhook_event(
        self, *, provider: str, event_id: str, event_type: str, at: datetime
    ) -> PaymentWebhookEvent | None:
        """Stores the event id; None if it was already stored (a replay)."""
        existing = await self.session.scalar(
            select(PaymentWebhookEvent.id).where(
                PaymentWebhookEvent.provider == provider, PaymentWebhookEvent.event_id == event_id
            )
        )
        if existing is not None:
            return None
        event = PaymentWebhookEvent(
            id=new_id(), provider=provider, event_id=event_id, event_type=event_type, received_at=at
        )
        self.session.add(event)
        try:
            async with self.session.begin_nested():
                await self.session.flush()
        except IntegrityError:
            return None
        return event

    # --- refunds ---------------------------------------------------------------------------

    async def add_refund(self, refund: PaymentRefund) -> PaymentRefund:
        self.session.add(refund)
        await self.session.flush()
        return refund

    async def refunds_for(self, payment_id: str) -> list[PaymentRefund]:
        result = await self.session.scalars(
            select(PaymentRefund)
            .where(PaymentRefund.payment_id == payment_id)
            .order_by(PaymentRefund.created_at, PaymentRefund.id)
            .execution_options(populate_existing=True)
        )
        return list(result.all())

    async def pending_refund_total(self, payment_id: str) -> int:
        total = await self.session.scalar(
            select(func.coalesce(func.sum(PaymentRefund.amount), 0)).where(
                PaymentRefund.payment_id == payment_id, PaymentRefund.status == "pending"
            )
        )
        return int(total or 0)

    async def next_due_refund(
        self, now: datetime, *, lock: bool, skip: Collection[str] = ()
    ) -> PaymentRefund | None:
        """The pending refund due longest ago (not in `skip`). With `lock` (PostgreSQL) it is
        locked FOR UPDATE, skipping refunds another transaction holds."""
        statement = (
            select(PaymentRefund)
            .where(PaymentRefund.status == "pending", PaymentRefund.next_attempt_at <= now)
            .order_by(PaymentRefund.next_attempt_at, PaymentRefund.id)
            .limit(1)
        )
        if skip:
            statement = statement.where(PaymentRefund.id.not_in(list(skip)))
        if lock:
            statement = statement.with_for_update(skip_locked=True)
        result = await self.session.scalars(statement.execution_options(populate_existing=True))
        return result.first()

    async def lease_refund(self, refund: PaymentRefund, *, until: datetime) -> bool:
        """Takes the refund for this worker until `until` (compare-and-set on its due time,
        so of two workers that read it only one gets it); True if taken."""
        return await self._update_refund(
            refund,
            PaymentRefund.next_attempt_at == refund.next_attempt_at,
            next_attempt_at=until,
        )

    async def mark_refund_succeeded(self, refund: PaymentRefund, *, gateway_refund_id: str) -> bool:
        """pending → succeeded; False if it was not pending any more."""
        return await self._update_refund(
            refund, status="succeeded", gateway_refund_id=gateway_refund_id, last_error=None
        )

    async def record_refund_failure(
        self, refund: PaymentRefund, *, error: str, next_attempt_at: datetime
    ) -> bool:
        return await self._update_refund(
            refund,
            attempts=refund.attempts + 1,
            last_error=error[:200],
            next_attempt_at=next_attempt_at,
        )

    async def make_failed_refunds_due(self, now: datetime) -> int:
        """Pending refunds waiting after a failure are made due now (an operator's retry)."""
        result = await self.session.execute(
            update(PaymentRefund)
            .where(
                PaymentRefund.status == "pending",
                PaymentRefund.attempts > 0,
                PaymentRefund.next_attempt_at > now,
            )
            .values(next_attempt_at=now, updated_at=utcnow())
            .execution_options(synchronize_session=False)
        )
        return int(getattr(result, "rowcount", 0))

    async def _update_refund(self, refund: PaymentRefund, *conditions: Any, **values: Any) -> bool:
        """Conditional update of a pending refund; True (and `refund` updated) if it applied."""
        values["updated_at"] = utcnow()
        result = await self.session.execute(
            update(PaymentRefund)
            .where(PaymentRefund.id == refund.id, PaymentRefund.status == "pending", *conditions)
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        applied = bool(getattr(result, "rowcount", 0))
        if applied:
            for name, value in values.items():
                setattr(refund, name, value)
        return applied


class PaymentSegmentRepository:
    """The flights each payment pays for (revenue reports read them)."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add_all(self, segments: list[PaymentSegment]) -> None:
        self.session.add_all(segments)
        await self.session.flush()

    async def capture(self, payment_id: str) -> None:
        """The payment succeeded: each segment's whole amount was taken."""
        await self.session.execute(
            update(PaymentSegment)
            .where(PaymentSegment.payment_id == payment_id)
            .values(captured_amount=PaymentSegment.amount)
            .execution_options(synchronize_session=False)
        )

    async def for_payment(self, payment_id: str) -> list[PaymentSegment]:
        result = await self.session.scalars(
            select(PaymentSegment)
            .where(PaymentSegment.payment_id == payment_id)
            .order_by(PaymentSegment.position)
            .execution_options(populate_existing=True)
        )
        return list(result)

    async def flush(self) -> None:
        await self.session.flush()
