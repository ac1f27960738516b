"""Bookings as the airline's administration lists and counts them (every store alike)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from flightdeck.bookings.records import BookingStatus
from flightdeck.platform.money import Money


@dataclass(frozen=True)
class BookingListQuery:
    """Filters of the listing: all optional; `created_*` are instants (UTC)."""

    flight_id: str | None = None
    status: BookingStatus | None = None
    created_from: datetime | None = None  # inclusive
    created_before: datetime | None = None  # exclusive
    pnr: str | None = None
    user_id: str | None = None


@dataclass(frozen=True)
class SegmentSummary:
    flight_id: str
    flight_number: str
    origin: str
    destination: str
    departure_at: datetime
    service_date: date


@dataclass(frozen=True)
class BookingSummary:
    """A booking without its passengers' personal data: only how many there are."""

    id: str
    pnr: str
    user_id: str
    status: BookingStatus
    cabin: str
    passengers: int
    total_price: Money
    segments: tuple[SegmentSummary, ...]
    created_at: datetime
    cancelled_at: datetime | None
    cancellation_reason: str | None
    expired_at: datetime | None


@dataclass(frozen=True)
class CancellationAggregate:
    """Bookings that ended, each counted once, on its first flight: cancelled because the
    airline cancelled a flight, cancelled by staff, cancelled by the passenger, and holds
    that ran out unpaid."""

    key: str
    by_airline: int
    by_staff: int
    by_passenger: int
    expired: int
