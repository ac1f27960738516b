"""SQL tables of the bookings store: bookings, their segments and their passengers.

No foreign keys to other domains' tables (users, flights): bookings may live in MongoDB, and a
flight's rows must stay removable once its bookings are history.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, Date, ForeignKey, Index, Integer, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from flightdeck.platform.db import AmountColumn, Base, IdMixin, UTCDateTime
from flightdeck.platform.security.encryption import EncryptedString

_ENDED = text("outcome IS NOT NULL")


class Booking(Base):
    __tablename__ = "bookings"
    __table_args__ = (
        # GET /bookings: a user's bookings, newest first.
        Index("ix_bookings_user_created", "user_id", "created_at", "id"),
        # The sweeper: pending holds by expiry.
        Index("ix_bookings_status_hold_expires", "status", "hold_expires_at"),
        # The admin listing: every booking newest first, or those of one status.
        Index("ix_bookings_created", "created_at", "id"),
        Index("ix_bookings_status_created", "status", "created_at", "id"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    pnr: Mapped[str] = mapped_column(String(6), unique=True)
    user_id: Mapped[str] = mapped_column(String(36))
    status: Mapped[str] = mapped_column(String(16))
    cabin: Mapped[str] = mapped_column(String(16))
    total_amount: Mapped[int] = mapped_column(AmountColumn)
    currency: Mapped[str] = mapped_column(String(3))
    hold_expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    payment_id: Mapped[str | None] = mapped_column(String(64), default=None)
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    cancellation_reason: Mapped[str | None] = mapped_column(String(200), default=None)
    refund_amount: Mapped[int | None] = mapped_column(AmountColumn, default=None)
    expired_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    seats_released_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())

    segments: Mapped[list[BookingSegment]] = relationship(
        cascade="all, delete-orphan", lazy="selectin", order_by="BookingSegment.position"
    )
    passengers: Mapped[list[BookingPassenger]] = relationship(
        cascade="all, delete-orphan", lazy="selectin", order_by="BookingPassenger.position"
    )


class BookingSegment(IdMixin, Base):
    """One flight of a booking, as held (a copy: the flight may change later)."""

    __tablename__ = "booking_segments"
    __table_args__ = (
        UniqueConstraint("booking_id", "position"),
        # The cancellations report: only the segments of bookings that ended, by date, with
        # what it groups by (PostgreSQL reads it alone: an index-only scan).
        Index(
            "ix_booking_segments_ended",
            "service_date",
            sqlite_where=_ENDED,
            postgresql_where=_ENDED,
            postgresql_include=["origin", "destination", "flight_number", "position", "outcome"],
        ),
    )

    booking_id: Mapped[str] = mapped_column(ForeignKey("bookings.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    flight_id: Mapped[str] = mapped_column(String(36), index=True)
    flight_number: Mapped[str] = mapped_column(String(8))
    origin: Mapped[str] = mapped_column(String(3))
    destination: Mapped[str] = mapped_column(String(3))
    departure_at: Mapped[datetime] = mapped_column(UTCDateTime())
    arrival_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # The flight's local date at its origin, kept for reports by service date (derived from
    # departure_at and the origin's time zone when the booking is stored).
    service_date: Mapped[date | None] = mapped_column(Date(), default=None)
    # How the booking ended, copied here when it does (reports count ended bookings from the
    # segments alone): flight_cancelled, cancelled_by_staff, cancelled_by_passenger, expired.
    outcome: Mapped[str | None] = mapped_column(String(32), default=None)
    fare_amount: Mapped[int] = mapped_column(AmountColumn)
    fare_currency: Mapped[str] = mapped_column(String(3))
    # One seat (or null) per passenger, in passenger order.
    seats: Mapped[list[str | None]] = mapped_column(JSON)


class BookingPassenger(IdMixin, Base):
    __tablename__ = "booking_passengers"
    __table_args__ = (UniqueConstraint("booking_id", "position"),)

    booking_id: Mapped[str] = mapped_column(ForeignKey("bookings.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    first_name: Mapped[str] = mapped_column(String(100))
    last_name: Mapped[str] = mapped_column(String(100))
    # Personal data: encrypted at rest (AES-256-GCM, key id in the stored value).
    date_of_birth: Mapped[str] = mapped_column(EncryptedString())  # ISO date
    passport_number: Mapped[str | None] = mapped_column(EncryptedString(), default=None)
