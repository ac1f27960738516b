"""The SQL booking store: all SQL of bookings, in the caller's session (never commits).

Status changes are one conditional UPDATE each (`… WHERE id = :id AND status = …`), so of
several concurrent callers exactly one changes the row; seats_released_at is set in that same
UPDATE because the service releases the seats in the same transaction.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import date, datetime
from typing import Any, cast

from sqlalchemy import CursorResult, Select, Table, and_, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from flightdeck.bookings.models import Booking, BookingPassenger, BookingSegment
from flightdeck.bookings.records import (
    ACTIVE_STATUSES,
    CANCELLED,
    CONFIRMED,
    EXPIRED,
    PENDING_PAYMENT,
    BookingCursor,
    BookingRecord,
    BookingStatus,
    PassengerRecord,
    SegmentRecord,
)
from flightdeck.bookings.repository import PnrTaken
from flightdeck.platform.db import new_id
from flightdeck.platform.money import Money


def _to_record(row: Booking) -> BookingRecord:
    currency = row.currency
    return BookingRecord(
        id=row.id,
        pnr=row.pnr,
        user_id=row.user_id,
        status=cast(BookingStatus, row.status),
        cabin=row.cabin,
        total_price=Money(amount=row.total_amount, currency=currency),
        hold_expires_at=row.hold_expires_at,
        segments=tuple(
            SegmentRecord(
                flight_id=s.flight_id,
                flight_number=s.flight_number,
                origin=s.origin,
                destination=s.destination,
                departure_at=s.departure_at,
                arrival_at=s.arrival_at,
                fare=Money(amount=s.fare_amount, currency=s.fare_currency),
                seats=tuple(s.seats),
            )
            for s in row.segments
        ),
        passengers=tuple(
            PassengerRecord(
                first_name=p.first_name,
                last_name=p.last_name,
                date_of_birth=date.fromisoformat(p.date_of_birth),
                passport_number=p.passport_number,
            )
            for p in row.passengers
        ),
        created_at=row.created_at,
        updated_at=row.updated_at,
        payment_id=row.payment_id,
        confirmed_at=row.confirmed_at,
        cancelled_at=row.cancelled_at,
        cancellation_reason=row.cancellation_reason,
        refund_amount=(
            None
            if row.refund_amount is None
            else Money(amount=row.refund_amount, currency=currency)
        ),
        expired_at=row.expired_at,
        seats_released_at=row.seats_released_at,
    )


Values = dict[str, Any]
_BOOKINGS: Table = Booking.__table__  # type: ignore[assignment]
_SEGMENTS: Table = BookingSegment.__table__  # type: ignore[assignment]
_PASSENGERS: Table = BookingPassenger.__table__  # type: ignore[assignment]


def _rows(record: BookingRecord) -> tuple[Values, list[Values], list[Values]]:
    """The booking's row, its segments' rows and its passengers' rows, as column values."""
    booking = {
        "id": record.id,
        "pnr": record.pnr,
        "user_id": record.user_id,
        "status": record.status,
        "cabin": record.cabin,
        "total_amount": record.total_price.amount,
        "currency": record.total_price.currency,
        "hold_expires_at": record.hold_expires_at,
        "payment_id": None,
        "confirmed_at": None,
        "cancelled_at": None,
        "cancellation_reason": None,
        "refund_amount": None,
        "expired_at": None,
        "seats_released_at": None,
        "created_at": record.created_at,
        "updated_at": record.updated_at,
    }
    segments = [
        {
            "id": new_id(),
            "booking_id": record.id,
            "position": position,
            "flight_id": s.flight_id,
            "flight_number": s.flight_number,
            "origin": s.origin,
            "destination": s.destination,
            "departure_at": s.departure_at,
            "arrival_at": s.arrival_at,
            "service_date": s.service_date,
            "fare_amount": s.fare.amount,
            "fare_currency": s.fare.currency,
            "seats": list(s.seats),
        }
        for position, s in enumerate(record.segments)
    ]
    passengers = [
        {
            "id": new_id(),
            "booking_id": record.id,
            "position": position,
            "first_name": p.first_name,
            "last_name": p.last_name,
            "date_of_birth": p.date_of_birth.isoformat(),
            "passport_number": p.passport_number,
        }
        for position, p in enumerate(record.passengers)
    ]
    return booking, segments, passengers


def _insert_booking(dialect: str) -> Any:
    """INSERT of a booking that skips it (rowcount 0) when its PNR is taken."""
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return insert(_BOOKINGS).on_conflict_do_nothing(index_elements=["pnr"])


class SqlBookingRepository:
    """`BookingRepository` on the request's SQL session."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, booking: BookingRecord) -> None:
        # Three statements, no SAVEPOINT: a taken PNR writes nothing and is reported, so the
        # transaction stays usable for the retry with another PNR.
        row, segments, passengers = _rows(booking)
        dialect = self.session.get_bind().dialect.name
        result = cast(CursorResult[Any], await self.session.execute(_insert_booking(dialect), row))
        if result.rowcount != 1:
            raise PnrTaken(booking.pnr)
        await self.session.execute(insert(_SEGMENTS), segments)
        await self.session.execute(insert(_PASSENGERS), passengers)

    async def get(self, booking_id: str) -> BookingRecord | None:
        return await self._one(select(Booking).where(Booking.id == booking_id))

    async def get_by_pnr(self, pnr: str) -> BookingRecord | None:
        return await self._one(select(Booking).where(Booking.pnr == pnr))

    async def list_for_user(
        self, user_id: str, *, limit: int, after: BookingCursor | None = None
    ) -> list[BookingRecord]:
        query = select(Booking).where(Booking.user_id == user_id)
        if after is not None:
            query = query.where(
                or_(
                    Booking.created_at < after.created_at,
                    and_(Booking.created_at == after.created_at, Booking.id < after.id),
                )
            )
        return await self._many(
            query.order_by(Booking.created_at.desc(), Booking.id.desc()).limit(limit)
        )

    async def confirm(
        self, booking_id: str, *, payment_id: str, at: datetime
    ) -> BookingRecord | None:
        return await self._transition(
            booking_id,
            {PENDING_PAYMENT},
            Booking.hold_expires_at > at,
            status=CONFIRMED,
            payment_id=payment_id,
            confirmed_at=at,
            updated_at=at,
        )

    async def cancel(
        self,
        booking_id: str,
        *,
        from_status: BookingStatus,
        at: datetime,
        reason: str | None,
        refund: Money | None,
    ) -> BookingRecord | None:
        if from_status not in ACTIVE_STATUSES:
            return None
        cancelled = await self._transition(
            booking_id,
            {from_status},
            None,
            status=CANCELLED,
            cancelled_at=at,
            cancellation_reason=reason,
            refund_amount=None if refund is None else refund.amount,
            seats_released_at=at,
            updated_at=at,
        )
        if cancelled is not None:
            await self._mark_ended(booking_id, reason or CANCELLED)
        return cancelled

    async def expire(self, booking_id: str, *, at: datetime) -> BookingRecord | None:
        expired = await self._transition(
            booking_id,
            {PENDING_PAYMENT},
            Booking.hold_expires_at <= at,
            status=EXPIRED,
            expired_at=at,
            seats_released_at=at,
            updated_at=at,
        )
        if expired is not None:
            await self._mark_ended(booking_id, EXPIRED)
        return expired

    async def _mark_ended(self, booking_id: str, outcome: str) -> None:
        """Copies how the booking ended onto its segments (what reports count), in the same
        transaction as the change of status."""
        await self.session.execute(
            update(BookingSegment)
            .where(BookingSegment.booking_id == booking_id)
            .values(outcome=outcome)
            .execution_options(synchronize_session=False)
        )

    async def list_expired_holds(self, now: datetime, *, limit: int) -> list[BookingRecord]:
        return await self._many(
            select(Booking)
            .where(Booking.status == PENDING_PAYMENT, Booking.hold_expires_at <= now)
            .order_by(Booking.hold_expires_at, Booking.id)
            .limit(limit)
        )

    async def list_active_on_flight(self, flight_id: str) -> list[BookingRecord]:
        on_flight = select(BookingSegment.booking_id).where(BookingSegment.flight_id == flight_id)
        return await self._many(
            select(Booking)
            .where(Booking.id.in_(on_flight), Booking.status.in_(sorted(ACTIVE_STATUSES)))
            .order_by(Booking.created_at, Booking.id)
        )

    async def list_active_for_user(self, user_id: str) -> list[BookingRecord]:
        return await self._many(
            select(Booking)
            .where(Booking.user_id == user_id, Booking.status.in_(sorted(ACTIVE_STATUSES)))
            .order_by(Booking.created_at, Booking.id)
        )

    async def list_unreleased(self, *, before: datetime, limit: int) -> list[BookingRecord]:
        # Seats are released in the same transaction as the status change: nothing to repair.
        return []

    async def mark_seats_released(self, booking_id: str, *, at: datetime) -> None:
        await self.session.execute(
            update(Booking)
            .where(Booking.id == booking_id, Booking.seats_released_at.is_(None))
            .values(seats_released_at=at)
        )

    async def _transition(
        self,
        booking_id: str,
        from_statuses: Collection[str],
        condition: Any,
        **values: Any,
    ) -> BookingRecord | None:
        statement = update(Booking).where(
            Booking.id == booking_id, Booking.status.in_(sorted(from_statuses))
        )
        if condition is not None:
            statement = statement.where(condition)
        result = cast(
            CursorResult[Any],
            await self.session.execute(
                statement.values(**values).execution_options(synchronize_session=False)
            ),
        )
        if result.rowcount != 1:
            return None
        return await self.get(booking_id)

    async def _one(self, query: Select[Booking]) -> BookingRecord | None:
        rows = await self._many(query)
        return rows[0] if rows else None

    async def _many(self, query: Select[Booking]) -> list[BookingRecord]:
        # populate_existing: a row loaded earlier in this session may be stale after an UPDATE.
        result = await self.session.scalars(query.execution_options(populate_existing=True))
        rows: Sequence[Booking] = result.all()
        records = [_to_record(row) for row in rows]
        for row in rows:
            self.session.expunge(row)
        return records
