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


def _first_flights_ended(outcome: str) -> Any:
    """Bookings that ended this way, counted on their first flight (one row each)."""
    first = and_(BookingSegment.position == 0, BookingSegment.outcome == outcome)
    return func.coalesce(func.sum(case((first, 1), else_=0)), 0)


def cancellations_statement(period: ReportPeriod, group_by: GroupBy | None) -> Select[Any]:
    """Ended bookings per outcome and group, from the segments alone (the partial index of
    ended bookings' segments: no join, no DISTINCT)."""
    groups = group_columns(group_by, SEGMENT_GROUPS)
    return (
        select(
            *groups,
            _first_flights_ended(FLIGHT_CANCELLED_REASON),
            _first_flights_ended(STAFF_CANCELLED_REASON),
            _first_flights_ended(PASSENGER_CANCELLED_REASON),
            _first_flights_ended(EXPIRED),
        )
        .where(
            BookingSegment.service_date.between(period.date_from, period.date_to),
            BookingSegment.outcome.is_not(None),
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
