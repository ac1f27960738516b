"""The booking store interface (`stores.py` picks the store the settings name).

The bookings service talks only to `BookingRepository`: a SQL store (`repository_sql`, the
default, writing in the request's transaction) or a MongoDB store (`repository_mongo`, when
`FLIGHTDECK_BOOKINGS_STORE_URL` is a `mongodb://` URL). Seat inventory, idempotency keys and
outbox events always stay in SQL.

Consistency with a store that commits on its own (MongoDB): the service holds seats in SQL
*before* it writes the booking to the store, so a failed store write rolls the SQL
transaction back; a booking written whose SQL transaction then fails holds no
seats and simply expires (`release_inventory` is idempotent per booking and releases nothing).
A cancellation/expiry committed in the store whose SQL transaction failed keeps
`seats_released_at` None; the sweeper's repair pass releases those seats again.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from flightdeck.bookings.records import BookingCursor, BookingRecord, BookingStatus
from flightdeck.platform.events.outbox import RecordedEvent
from flightdeck.platform.money import Money


class PnrTaken(Exception):
    """The PNR of a new booking already exists; the caller retries with another one."""


class BookingRepository(Protocol):
    """All reads and writes of bookings. Every status change is conditional (compare and set)
    and returns the updated record, or None when the booking is missing or no longer in a
    state the change applies to: of several concurrent callers exactly one gets a record."""

    async def add(self, booking: BookingRecord, event: RecordedEvent) -> None:
        """Stores a new booking and adds `event` (its `booking.created`) to the SQL outbox in
        the request's transaction; raises `PnrTaken` if its PNR exists (nothing stored, no
        event)."""
        ...

    async def get(self, booking_id: str) -> BookingRecord | None: ...

    async def get_by_pnr(self, pnr: str) -> BookingRecord | None:
        """`pnr` is upper case (PNRs are stored that way)."""
        ...

    async def list_for_user(
        self, user_id: str, *, limit: int, after: BookingCursor | None = None
    ) -> list[BookingRecord]:
        """The user's bookings, newest first (created_at, then id, descending), strictly after
        `after`; at most `limit`."""
        ...

    async def confirm(
        self, booking_id: str, *, payment_id: str, at: datetime
    ) -> BookingRecord | None:
        """pending_payment → confirmed if the hold has not expired (`hold_expires_at > at`);
        records payment_id and confirmed_at."""
        ...

    async def cancel(
        self,
        booking_id: str,
        *,
        from_status: BookingStatus,
        at: datetime,
        reason: str | None,
        refund: Money | None,
    ) -> BookingRecord | None:
        """`from_status` (pending_payment or confirmed: the status the refund was computed
        for) → cancelled; records cancelled_at, the reason and the refund amount (None:
        nothing to pay back)."""
        ...

    async def expire(self, booking_id: str, *, at: datetime) -> BookingRecord | None:
        """pending_payment → expired if `hold_expires_at <= at`; records expired_at."""
        ...

    async def list_expired_holds(self, now: datetime, *, limit: int) -> list[BookingRecord]:
        """pending_payment bookings with `hold_expires_at <= now`, earliest expiry first
        (an indexed query)."""
        ...

    async def list_active_on_flight(self, flight_id: str) -> list[BookingRecord]:
        """pending_payment and confirmed bookings with a segment on the flight."""
        ...

    async def list_active_for_user(self, user_id: str) -> list[BookingRecord]:
        """The user's pending_payment and confirmed bookings (indexed by user)."""
        ...

    async def list_unreleased(self, *, before: datetime, limit: int) -> list[BookingRecord]:
        """Cancelled or expired bookings whose `seats_released_at` is None, last changed at or
        before `before` (the sweeper's repair pass). Always empty for the SQL store."""
        ...

    async def mark_seats_released(self, booking_id: str, *, at: datetime) -> None:
        """Records that the booking's seats went back to inventory."""
        ...
