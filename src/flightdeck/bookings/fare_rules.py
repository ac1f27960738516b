"""Fare rules: how much of a booking is paid back when it is cancelled."""

from __future__ import annotations

from datetime import datetime, timedelta

from flightdeck.bookings.records import CONFIRMED, BookingRecord
from flightdeck.platform.money import Money

FULL_REFUND_NOTICE = timedelta(hours=24)
LATE_REFUND_PERCENT = 50


def refund_for_cancellation(booking: BookingRecord, now: datetime) -> Money | None:
    """The refund for a passenger's cancellation at `now`: nothing was paid (not confirmed) →
    None; more than 24 h before the first departure → the whole price; otherwise 50 %
    (rounded down to the minor unit)."""
    if booking.status != CONFIRMED:
        return None
    total = booking.total_price
    if booking.first_departure_at - now > FULL_REFUND_NOTICE:
        return total
    return Money(amount=total.amount * LATE_REFUND_PERCENT // 100, currency=total.currency)


def refund_for_airline_cancellation(booking: BookingRecord) -> Money | None:
    """The airline cancelled a flight: a paid booking is refunded in full, whenever."""
    return booking.total_price if booking.status == CONFIRMED else None


def full_refund_deadline(booking: BookingRecord) -> datetime:
    """Until when a passenger's cancellation is refunded in full."""
    return booking.first_departure_at - FULL_REFUND_NOTICE


def describe_refund_rule(booking: BookingRecord, now: datetime) -> str:
    """The fare rule that applies to a cancellation at `now`, in words."""
    if booking.status != CONFIRMED:
        return "Nothing was paid, so nothing is refunded; the seats are released."
    if booking.first_departure_at - now > FULL_REFUND_NOTICE:
        return "More than 24 hours before departure: the whole price is refunded."
    return f"Less than 24 hours before departure: {LATE_REFUND_PERCENT} % is refunded."
