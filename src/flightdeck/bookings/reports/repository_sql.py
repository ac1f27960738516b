"""The admin listing and the cancellation counts of the SQL booking store. Passengers'
personal data is never read (only how many there are), so nothing is decrypted."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Select, and_, case, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from flightdeck.bookings.models import Booking, BookingPassenger, BookingSegment
from flightdeck.bookings.records import (
    CANCELLED,
    EXPIRED,
    FLIGHT_CANCELLED_REASON,
    PASSENGER_CANCELLED_REASON,
    STAFF_CANCELLED_REASON,
    BookingStatus,
)
from flightdeck.bookings.reports.records import (
    BookingListQuery,
    BookingSummary,
    CancellationAggregate,
    SegmentSummary,
)
from flightdeck.flights.airports import to_local
from flightdeck.platform.money import Money
from flightdeck.platform.reporting import (
    GroupBy,
    GroupColumns,
    ReportPeriod,
    group_columns,
    group_key,
)

SEGMENT_GROUPS = GroupColumns(
    service_date=BookingSegment.service_date,
    origin=BookingSegment.origin,
    destination=BookingSegment.destination,
    flight_number=BookingSegment.flight_number,
    cabin=Booking.cabin,
)


# Columns only (no ORM objects, no passengers: their personal data is never read).
SUMMARY_COLUMNS = (
    Booking.id,
    Booking.pnr,
    Booking.user_id,
    Booking.status,
    Booking.cabin,
    Booking.total_amount,
    Booking.currency,
    Booking.created_at,
    Booking.cancelled_at,
    Booking.cancellation_reason,
    Booking.expired_at,
)


def summaries_statement(
    query: BookingListQuery, *, limit: int, after: tuple[datetime, str] | None
) -> Select[*tuple[Any, ...]]:
    """Newest first on (created_at, id), strictly after the keyset `after`."""
    passengers = (
        select(func.count())
        .where(BookingPassenger.booking_id == Booking.id)
        .correlate(Booking)
        .scalar_subquery()
    )
    statement = select(*SUMMARY_COLUMNS, passengers.label("passengers"))
    if query.flight_id is not None:
        on_flight = select(BookingSegment.booking_id).where(
            BookingSegment.flight_id == query.flight_id
        )
        statement = statement.where(Booking.id.in_(on_flight))
    for column, value in (
        (Booking.status, query.status),
        (Booking.pnr, query.pnr),
        (Booking.user_id, query.user_id),
    ):
        if value is not None:
            statement = statement.where(column == value)
    if query.created_from is not None:
        statement = statement.where(Booking.created_at >= query.created_from)
    if query.created_before is not None:
        statement = statement.where(Booking.created_at < query.created_before)
    if after is not None:
        at, booking_id = after
        statement = statement.where(
            Booking.created_at <= at,
            or_(Booking.created_at < at, and_(Booking.created_at == at, Booking.id < booking_id)),
        )
    order = (Booking.created_at.desc(), Booking.id.desc())
    return statement.order_by(*order).limit(limit)


async def list_summaries(
    session: AsyncSession,
    query: BookingListQuery,
    *,
    limit: int,
    after: tuple[datetime, str] | None = None,
) -> list[BookingSummary]:
    page = summaries_statement(query, limit=limit, after=after)
    rows = (await session.execute(page)).all()
    segments = await _segments_of(session, page) if rows else {}
    return [_summary(row, segments.get(row.id, ())) for row in rows]


async def _segments_of(
    session: AsyncSession, page: Select[*tuple[Any, ...]]
) -> dict[str, tuple[SegmentSummary, ...]]:
    """The segments of the bookings of a page, joined to the page's own query (the database
    finds the same bookings again by index) rather than listing a thousand ids."""
    booking_ids = page.with_only_columns(Booking.id).subquery()
    rows = await session.execute(
        select(
            BookingSegment.booking_id,
            BookingSegment.flight_id,
            BookingSegment.flight_number,
            BookingSegment.origin,
            BookingSegment.destination,
            BookingSegment.departure_at,
            BookingSegment.service_date,
        )
        .join(booking_ids, booking_ids.c.id == BookingSegment.booking_id)
        .order_by(BookingSegment.booking_id, BookingSegment.position)
    )
    by_booking: dict[str, list[SegmentSummary]] = defaultdict(list)
    for booking_id, flight_id, number, origin, destination, departure_at, day in rows:
        by_booking[booking_id].append(
            SegmentSummary(
                flight_id,
                number,
                origin,
                destination,
                departure_at,
                day or to_local(departure_at, origin).date(),
            )
        )
    return {booking_id: tuple(segments) for booking_id, segments in by_booking.items()}


def _summary(row: Any, segments: tuple[SegmentSummary, ...]) -> BookingSummary:
    return BookingSummary(
        id=row.id,
        pnr=row.pnr,
        user_id=row.user_id,
        status=cast(BookingStatus, row.status),
        cabin=row.cabin,
        passengers=int(row.passengers),
        # Read back from our own table: already valid, no need to validate again.
        total_price=Money.model_construct(amount=row.total_amount, currency=row.currency),
        segments=segments,
        created_at=row.created_at,
        cancelled_at=row.cancelled_at,
        cancellation_reason=row.cancellation_reason,
        expired_at=row.expired_at,
    )


def _distinct_bookings(condition: Any) -> Any:
    return func.count(func.distinct(case((condition, Booking.id))))


def cancellations_statement(period: ReportPeriod, group_by: GroupBy | None) -> Select[Any]:
    """Distinct bookings per category and group, over the segments flying in the period."""
    groups = group_columns(group_by, SEGMENT_GROUPS)
    cancelled = Booking.status == CANCELLED
    return (
        select(
            *groups,
            _distinct_bookings(
                and_(cancelled, Booking.cancellation_reason == FLIGHT_CANCELLED_REASON)
            ),
            _distinct_bookings(
                and_(cancelled, Booking.cancellation_reason == STAFF_CANCELLED_REASON)
            ),
            _distinct_bookings(
                and_(cancelled, Booking.cancellation_reason == PASSENGER_CANCELLED_REASON)
            ),
            _distinct_bookings(Booking.status == EXPIRED),
        )
        .select_from(BookingSegment)
        .join(Booking, Booking.id == BookingSegment.booking_id)
        .where(
            BookingSegment.service_date.between(period.date_from, period.date_to),
            Booking.status.in_([CANCELLED, EXPIRED]),
        )
        .group_by(*groups)
    )


async def cancellations(
    session: AsyncSession, period: ReportPeriod, group_by: GroupBy | None
) -> list[CancellationAggregate]:
    width = 0 if group_by is None else 2 if group_by == "route" else 1
    rows = await session.execute(cancellations_statement(period, group_by))
    return [
        CancellationAggregate(group_key(group_by, row[:width]), *(int(v) for v in row[width:]))
        for row in rows
    ]
