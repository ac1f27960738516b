"""Store-agnostic booking records: what every booking store (SQL, MongoDB) saves and returns.

Plain frozen dataclasses, never ORM objects. Personal data (passport number, date of birth)
is plaintext here, in memory only: each store encrypts it at rest.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Literal

from flightdeck.flights.airports import to_local
from flightdeck.platform.money import Money

BookingStatus = Literal["pending_payment", "confirmed", "cancelled", "expired"]

PENDING_PAYMENT: BookingStatus = "pending_payment"
CONFIRMED: BookingStatus = "confirmed"
CANCELLED: BookingStatus = "cancelled"
EXPIRED: BookingStatus = "expired"
# Bookings that hold seats: a cancellation or an expiry gives them back.
ACTIVE_STATUSES: frozenset[BookingStatus] = frozenset({PENDING_PAYMENT, CONFIRMED})

# Why a booking was cancelled (`cancellation_reason`).
FLIGHT_CANCELLED_REASON = "flight_cancelled"
PASSENGER_CANCELLED_REASON = "cancelled_by_passenger"
STAFF_CANCELLED_REASON = "cancelled_by_staff"


@dataclass(frozen=True)
class PassengerRecord:
    first_name: str
    last_name: str
    date_of_birth: date
    passport_number: str | None = None


@dataclass(frozen=True)
class SegmentRecord:
    """One flight of the booking, as held; `seats` has one entry per passenger (None = no
    seat chosen), in passenger order."""

    flight_id: str
    flight_number: str
    origin: str
    destination: str
    departure_at: datetime  # UTC
    arrival_at: datetime  # UTC
    fare: Money  # per passenger
    seats: tuple[str | None, ...]

    @property
    def service_date(self) -> date:
        """The flight's local date at its origin (what reports group by)."""
        return to_local(self.departure_at, self.origin).date()


@dataclass(frozen=True)
class BookingRecord:
    """A booking with its segments (in travel order) and passengers (in request order)."""

    id: str
    pnr: str
    user_id: str
    status: BookingStatus
    cabin: str
    total_price: Money
    hold_expires_at: datetime
    segments: tuple[SegmentRecord, ...]
    passengers: tuple[PassengerRecord, ...]
    created_at: datetime
    updated_at: datetime
    payment_id: str | None = None
    confirmed_at: datetime | None = None
    cancelled_at: datetime | None = None
    cancellation_reason: str | None = None
    # Set on cancellation of a paid booking; the payments domain pays it back.
    refund_amount: Money | None = None
    expired_at: datetime | None = None
    # When the seats of a cancelled/expired booking were given back to inventory. A store
    # that commits with the SQL transaction sets it in the same write as the status; one that
    # commits on its own (MongoDB) leaves it None and the sweeper's repair pass completes it.
    seats_released_at: datetime | None = None

    @property
    def flight_ids(self) -> list[str]:
        return [segment.flight_id for segment in self.segments]

    @property
    def first_departure_at(self) -> datetime:
        return min(segment.departure_at for segment in self.segments)

    @property
    def seat_counts(self) -> dict[str, int]:
        """Seats held per flight: what `release_inventory` gives back."""
        return {segment.flight_id: len(self.passengers) for segment in self.segments}


@dataclass(frozen=True)
class BookingCursor:
    """Position in a user's booking list (newest first): strictly older than this."""

    created_at: datetime
    id: str
