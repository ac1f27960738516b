"""Tables of payments: one row per payment attempt, its refunds, and the webhook events
already handled."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, Index, Integer, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from flightdeck.platform.db import AmountColumn, Base, IdMixin, TimestampMixin, UTCDateTime

# At most one attempt per booking that is not `failed`: two concurrent payments for one
# booking cannot both reach the gateway (the second insert violates this index).
_LIVE_ATTEMPT = text("status <> 'failed'")
_REFUNDED = text("refunded_amount > 0")


class Payment(IdMixin, TimestampMixin, Base):
    """A payment attempt. Only brand, last four and expiry of a card are kept."""

    __tablename__ = "payments"
    __table_args__ = (
        Index(
            "uq_payments_live_booking",
            "booking_id",
            unique=True,
            sqlite_where=_LIVE_ATTEMPT,
            postgresql_where=_LIVE_ATTEMPT,
        ),
        Index("ix_payments_gateway_charge", "gateway", "charge_id"),
        Index("ix_payments_user_id", "user_id"),
        # The admin listing: what each booking of a page paid and got back.
        Index("ix_payments_booking_id", "booking_id"),
        # The reconciler's look-up of attempts left `processing`.
        Index("ix_payments_status_updated_at", "status", "updated_at"),
    )

    booking_id: Mapped[str] = mapped_column(String(36))
    user_id: Mapped[str] = mapped_column(String(36))
    pnr: Mapped[str] = mapped_column(String(6))
    amount: Mapped[int] = mapped_column(AmountColumn)
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(24))
    method_type: Mapped[str] = mapped_column(String(16))
    wallet_provider: Mapped[str | None] = mapped_column(String(16), default=None)
    brand: Mapped[str | None] = mapped_column(String(16), default=None)
    last4: Mapped[str | None] = mapped_column(String(4), default=None)
    exp_month: Mapped[int | None] = mapped_column(Integer, default=None)
    exp_year: Mapped[int | None] = mapped_column(Integer, default=None)
    failure_code: Mapped[str | None] = mapped_column(String(40), default=None)
    gateway: Mapped[str] = mapped_column(String(16))
    charge_id: Mapped[str | None] = mapped_column(String(100), default=None)
    refunded_amount: Mapped[int] = mapped_column(AmountColumn, default=0)
    refund_id: Mapped[str | None] = mapped_column(String(100), default=None)
    # The request's `Idempotency-Key`, released if the reconciler finds nothing was charged.
    idempotency_key: Mapped[str | None] = mapped_column(String(255), default=None)


class PaymentRefund(IdMixin, TimestampMixin, Base):
    """Money to pay back on a payment: written `pending` in the transaction that decides it
    (a cancellation, a charge for a booking that can no longer be confirmed) and made by the
    refund worker, which marks it `succeeded`."""

    __tablename__ = "payment_refunds"
    __table_args__ = (
        Index("ix_payment_refunds_payment_id", "payment_id"),
        Index("ix_payment_refunds_due", "status", "next_attempt_at"),
    )

    payment_id: Mapped[str] = mapped_column(String(36))
    amount: Mapped[int] = mapped_column(AmountColumn)
    currency: Mapped[str] = mapped_column(String(3))
    reason: Mapped[str] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime())
    gateway_refund_id: Mapped[str | None] = mapped_column(String(100), default=None)
    last_error: Mapped[str | None] = mapped_column(String(200), default=None)


class PaymentWebhookEvent(IdMixin, Base):
    """A webhook event already processed: a replay of the same event id is ignored."""

    __tablename__ = "payment_webhook_events"
    __table_args__ = (UniqueConstraint("provider", "event_id"),)

    provider: Mapped[str] = mapped_column(String(16))
    event_id: Mapped[str] = mapped_column(String(255))
    event_type: Mapped[str] = mapped_column(String(100))
    payment_id: Mapped[str | None] = mapped_column(String(36), default=None)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())


class PaymentSegment(IdMixin, Base):
    """What a payment pays for, one row per flight of its booking, kept by payments at write
    time so revenue reports group by flight, route, cabin and service date without reaching
    into another domain's tables. `amount` is the segment's fare times its passengers (the
    segments of a payment add up to it); `captured_amount` becomes `amount` when the payment
    succeeds; `refunded_amount` is the segment's share of what was paid back (refunds are
    split in proportion to `amount`, see payments/segments.py)."""

    __tablename__ = "payment_segments"
    __table_args__ = (
        UniqueConstraint("payment_id", "position"),
        # Revenue reports read this index alone on PostgreSQL (an index-only scan by date).
        Index(
            "ix_payment_segments_service_date",
            "service_date",
            postgresql_include=[
                "captured_amount",
                "refunded_amount",
                "currency",
                "origin",
                "destination",
                "flight_number",
                "cabin",
                "passengers",
                "distance_km",
                "position",
            ],
        ),
        # Refunds paid (the cancellations report): only the segments with some, a few.
        Index(
            "ix_payment_segments_refunded",
            "service_date",
            sqlite_where=_REFUNDED,
            postgresql_where=_REFUNDED,
        ),
    )

    payment_id: Mapped[str] = mapped_column(String(36))
    booking_id: Mapped[str] = mapped_column(String(36))
    position: Mapped[int] = mapped_column(Integer)
    flight_id: Mapped[str] = mapped_column(String(36))
    flight_number: Mapped[str] = mapped_column(String(8))
    origin: Mapped[str] = mapped_column(String(3))
    destination: Mapped[str] = mapped_column(String(3))
    service_date: Mapped[date] = mapped_column(Date())
    cabin: Mapped[str] = mapped_column(String(16))
    passengers: Mapped[int] = mapped_column(Integer)
    distance_km: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(3))
    amount: Mapped[int] = mapped_column(Integer)
    captured_amount: Mapped[int] = mapped_column(Integer, default=0)
    refunded_amount: Mapped[int] = mapped_column(Integer, default=0)
