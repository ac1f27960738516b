"""All SQL of payments."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from flightdeck.payments.models import Payment, PaymentWebhookEvent
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
