"""The SQL booking store: all SQL of bookings, in the caller's session (never commits).

Status changes are one conditional UPDATE each (`… WHERE id = :id AND status = …`), so of
several concurrent callers exactly one changes the row; seats_released_at is set in that same
UPDATE because the service releases the seats in the same transaction.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection
from datetime import date, datetime
from typing import Any, cast

from sqlalchemy import (
    CursorResult,
    Row,
    Select,
    String,
    Table,
    and_,
    bindparam,
    or_,
    select,
    update,
)
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from flightdeck.bookings.models import (
    Booking,
    BookingPassenger,
    BookingReference,
    BookingSegment,
)
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
from flightdeck.bookings.sql_add import (
    ADD_SQLITE,
    add_parameters,
    add_statement_postgresql,
    booking_rows,
    hold_and_add_statement_postgresql,
    one_or_many,
    pnr_taken,
)
from flightdeck.platform.compiled_reads import CompiledRead
from flightdeck.platform.events.outbox import (
    RecordedEvent,
    event_row,
    write_batch_with_events,
    write_with_events,
)
from flightdeck.platform.idempotency import KeyClaimed, key_claimed
from flightdeck.platform.money import Money


def _to_record(
    row: Row[Any], segments: list[Row[Any]], passengers: list[Row[Any]]
) -> BookingRecord:
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
            for s in segments
        ),
        passengers=tuple(
            PassengerRecord(
                first_name=p.first_name,
                last_name=p.last_name,
                date_of_birth=date.fromisoformat(p.date_of_birth),
                passport_number=p.passport_number,
            )
            for p in passengers
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
_REFERENCES: Table = BookingReference.__table__  # type: ignore[assignment]


# The segments and the passengers of some bookings, in their order.
_SEGMENTS_OF = (
    select(_SEGMENTS)
    .where(_SEGMENTS.c.booking_id.in_(bindparam("booking_ids", expanding=True)))
    .order_by(_SEGMENTS.c.booking_id, _SEGMENTS.c.position)
)
_PASSENGERS_OF = (
    select(_PASSENGERS)
    .where(_PASSENGERS.c.booking_id.in_(bindparam("booking_ids", expanding=True)))
    .order_by(_PASSENGERS.c.booking_id, _PASSENGERS.c.position)
)
# One booking with its segments and passengers in one statement (one round trip where the
# bookings, segments and passengers were three): a row per (segment, passenger) pair, in
# segment then passenger order. The columns `_to_record` reads keep their names (none is
# also a booking's); the two positions are labelled apart.
_SEGMENT_FIELDS = (
    "flight_id", "flight_number", "origin", "destination", "departure_at", "arrival_at",
    "fare_amount", "fare_currency", "seats",
)  # fmt: skip
_PASSENGER_FIELDS = ("first_name", "last_name", "date_of_birth", "passport_number")
_WHOLE_BOOKING = CompiledRead(
    select(
        _BOOKINGS,
        _SEGMENTS.c.position.label("segment_position"),
        *(_SEGMENTS.c[name] for name in _SEGMENT_FIELDS),
        _PASSENGERS.c.position.label("passenger_position"),
        *(_PASSENGERS.c[name] for name in _PASSENGER_FIELDS),
    )
    .select_from(
        _BOOKINGS.outerjoin(_SEGMENTS, _SEGMENTS.c.booking_id == _BOOKINGS.c.id).outerjoin(
            _PASSENGERS, _PASSENGERS.c.booking_id == _BOOKINGS.c.id
        )
    )
    .where(_BOOKINGS.c.id == bindparam("booking_id", type_=String))
    .order_by(_SEGMENTS.c.position, _PASSENGERS.c.position)
)


class SqlBookingRepository:
    """`BookingRepository` on the request's SQL session."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, booking: BookingRecord, event: RecordedEvent) -> None:
        # No SAVEPOINT: a taken PNR writes nothing and is reported, so the transaction stays
        # usable for the retry with another PNR. The PNR's claim skips a taken PNR: its
        # uniqueness lives in `booking_references`, keyed by PNR (flightdeck/data_layout.py).
        row, segments, passengers = booking_rows(booking)
        if self.session.get_bind().dialect.name == "postgresql":
            statement = add_statement_postgresql(len(segments), len(passengers))
            parameters = add_parameters(row, segments, passengers, event_row(event))
            if not await write_with_events(self.session, statement, parameters):
                raise PnrTaken(booking.pnr)
            return
        # SQLite: five statements in one trip (the claim, then the rows; `ADD_SQLITE`).
        claim = {"pnr": booking.pnr, "booking_id": booking.id}
        values = [claim, row, one_or_many(segments), one_or_many(passengers), event_row(event)]
        counts = await write_batch_with_events(self.session, ADD_SQLITE, values)
        if counts[0] != 1:
            raise PnrTaken(booking.pnr)

    async def hold_and_add(
        self,
        booking: BookingRecord,
        event: RecordedEvent,
        hold: dict[str, Any],
        key: dict[str, Any] | None = None,
    ) -> Any:
        """`add` with the hold of its one flight in one statement (PostgreSQL, on a connection
        in autocommit: flights/inventory/hold_statement.py), `hold` its bound values, and the
        Idempotency-Key's row (`KeyClaim.row`) if given: the statement's answer. PnrTaken or
        KeyClaimed: nothing was written."""
        row, segments, passengers = booking_rows(booking)
        statement = hold_and_add_statement_postgresql(len(passengers), keyed=key is not None)
        parameters = add_parameters(row, segments, passengers, event_row(event), key) | hold
        try:
            (answer,) = await write_with_events(self.session, statement, parameters)
        except DBAPIError as error:
            if pnr_taken(error):
                raise PnrTaken(booking.pnr) from error
            if key_claimed(error):
                raise KeyClaimed() from error
            raise
        return answer

    async def get(self, booking_id: str) -> BookingRecord | None:
        # A GET's connection is read-only: the statement runs on the driver (compiled_reads).
        connection = await self.session.connection()
        rows = await _WHOLE_BOOKING.named_rows(connection, {"booking_id": booking_id})
        if not rows:
            return None
        # Each segment's row repeats per passenger and each passenger's per segment.
        segments = {r.segment_position: r for r in rows if r.segment_position is not None}
        passengers = {r.passenger_position: r for r in rows if r.passenger_position is not None}
        return _to_record(rows[0], list(segments.values()), list(passengers.values()))

    async def get_by_pnr(self, pnr: str) -> BookingRecord | None:
        # Through the PNR's own row (keyed by PNR), then the booking by id: each a look-up by
        # the key its table is distributed by, once the database is sharded.
        reference = select(BookingReference.booking_id).where(BookingReference.pnr == pnr)
        booking_id = await self.session.scalar(reference)
        return None if booking_id is None else await self.get(booking_id)

    async def list_for_user(
        self, user_id: str, *, limit: int, after: BookingCursor | None = None
    ) -> list[BookingRecord]:
        query = select(_BOOKINGS).where(Booking.user_id == user_id)
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
            select(_BOOKINGS)
            .where(Booking.status == PENDING_PAYMENT, Booking.hold_expires_at <= now)
            .order_by(Booking.hold_expires_at, Booking.id)
            .limit(limit)
        )

    async def list_active_on_flight(self, flight_id: str) -> list[BookingRecord]:
        on_flight = select(BookingSegment.booking_id).where(BookingSegment.flight_id == flight_id)
        return await self._many(
            select(_BOOKINGS)
            .where(Booking.id.in_(on_flight), Booking.status.in_(sorted(ACTIVE_STATUSES)))
            .order_by(Booking.created_at, Booking.id)
        )

    async def list_active_for_user(self, user_id: str) -> list[BookingRecord]:
        return await self._many(
            select(_BOOKINGS)
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

    async def _many(self, query: Select[Any]) -> list[BookingRecord]:
        # Core rows, no ORM objects: three statements (the bookings, then their segments and
        # their passengers), as the relationships' selectin loading did, for a fraction of its
        # CPU; and nothing kept in the session that an UPDATE could leave stale.
        rows = (await self.session.execute(query)).all()
        if not rows:
            return []
        ids = {"booking_ids": [row.id for row in rows]}
        segments: dict[str, list[Row[Any]]] = defaultdict(list)
        for segment in await self.session.execute(_SEGMENTS_OF, ids):
            segments[segment.booking_id].append(segment)
        passengers: dict[str, list[Row[Any]]] = defaultdict(list)
        for passenger in await self.session.execute(_PASSENGERS_OF, ids):
            passengers[passenger.booking_id].append(passenger)
        return [_to_record(row, segments[row.id], passengers[row.id]) for row in rows]
