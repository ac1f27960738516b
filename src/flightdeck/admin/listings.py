"""The administrators' listings: every flight, booking, user and audit entry, one page at a
time, or every row for a CSV download (`all_rows`: keyset pages of `EXPORT_BATCH` rows, each
read in a short session of its own, so memory stays flat however many rows there are).

Each listing asks the domain that owns the rows (through its service) and, for bookings, adds
what other owners know of each page: the owner's e-mail (users) and the amounts paid and
refunded (payments), one query each per page.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, time, timedelta
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from flightdeck.admin.schemas import (
    AdminBookingRead,
    AuditEntryRead,
    AuditFilters,
    BookingFilters,
)
from flightdeck.bookings.reports import service as bookings_reports
from flightdeck.bookings.reports.records import BookingListQuery, BookingSummary
from flightdeck.flights.airports import to_local
from flightdeck.flights.reports import service as flights_reports
from flightdeck.flights.reports.schemas import FlightOperationsFilters, FlightOperationsRead
from flightdeck.payments.reports import service as payments_reports
from flightdeck.payments.reports.records import BookingPayments
from flightdeck.platform.audit import AuditQuery, list_audit_entries
from flightdeck.platform.db import READ_ONLY
from flightdeck.platform.pagination import (
    Page,
    PageParams,
    decode_cursor,
    decode_instant_cursor,
    instant_cursor,
)
from flightdeck.users.accounts import service as accounts
from flightdeck.users.accounts.schemas import UserAccountFilters, UserAccountRead

T = TypeVar("T")
PageFetcher = Callable[[AsyncSession, PageParams], Awaitable[Page[T]]]
EXPORT_BATCH = 1000


async def all_rows(
    sessionmaker: async_sessionmaker[AsyncSession], fetch_page: PageFetcher[T]
) -> AsyncIterator[T]:
    """Every row a paginated listing has, page after page (keyset), each page read in its
    own short read-only session: no transaction stays open for the whole download."""
    cursor = None
    while True:
        async with sessionmaker() as session:
            await session.connection(execution_options={READ_ONLY: True})
            page = await fetch_page(session, PageParams(limit=EXPORT_BATCH, cursor=cursor))
        for item in page.items:
            yield item
        if page.next_cursor is None:
            return
        cursor = decode_cursor(page.next_cursor)


# --- flights and users: their owners' listings as they are ---------------------------------


async def flights_page(
    session: AsyncSession, filters: FlightOperationsFilters, page: PageParams
) -> Page[FlightOperationsRead]:
    return await flights_reports.list_operations(session, filters, page)


async def users_page(
    session: AsyncSession, filters: UserAccountFilters, page: PageParams
) -> Page[UserAccountRead]:
    return await accounts.list_accounts(session, filters, page)


# --- bookings: the store's summaries with the owner's e-mail and the payments ---------------


async def _booking_query(session: AsyncSession, filters: BookingFilters) -> BookingListQuery | None:
    """The store query of the filters; None when no booking can match (unknown e-mail)."""
    user_id = None
    if filters.email is not None:
        user_id = await accounts.user_id_for_email(session, filters.email)
        if user_id is None:
            return None
    created_from = created_before = None
    if filters.created_from is not None:
        created_from = datetime.combine(filters.created_from, time(0), UTC)
    if filters.created_to is not None:
        created_before = datetime.combine(filters.created_to + timedelta(days=1), time(0), UTC)
    return BookingListQuery(
        flight_id=filters.flight_id,
        status=filters.status,
        created_from=created_from,
        created_before=created_before,
        pnr=filters.pnr,
        user_id=user_id,
    )


def _booking_fields(
    summary: BookingSummary, email: str | None, payments: BookingPayments | None
) -> dict[str, Any]:
    """A booking row as plain data: what `AdminBookingRead` shows, and what the CSV writes
    without building models for every one of a download's rows."""
    currency = summary.total_price.currency
    return {
        "id": summary.id,
        "pnr": summary.pnr,
        "owner_email": email,
        "user_id": summary.user_id,
        "status": summary.status,
        "cabin": summary.cabin,
        "passengers": summary.passengers,
        "segments": [
            {
                "flight_id": s.flight_id,
                "flight_number": s.flight_number,
                "origin": s.origin,
                "destination": s.destination,
                "departure_time": to_local(s.departure_at, s.origin),
                "service_date": s.service_date,
            }
            for s in summary.segments
        ],
        "total_price": {"amount": summary.total_price.amount, "currency": currency},
        "amount_paid": {"amount": payments.paid if payments else 0, "currency": currency},
        "amount_refunded": {"amount": payments.refunded if payments else 0, "currency": currency},
        "created_at": summary.created_at,
        "cancelled_at": summary.cancelled_at,
        "cancellation_reason": summary.cancellation_reason,
        "expired_at": summary.expired_at,
    }


async def booking_rows(
    session: AsyncSession, filters: BookingFilters, page: PageParams
) -> Page[dict[str, Any]]:
    """Bookings of either store, newest first, with owner e-mail and money paid/refunded."""
    query = await _booking_query(session, filters)
    if query is None:
        return Page(items=[], next_cursor=None)
    summaries = await bookings_reports.list_bookings(session, query, page)
    emails = await accounts.emails_for(session, {s.user_id for s in summaries.items})
    payments = await payments_reports.payments_of_bookings(session, [s.id for s in summaries.items])
    return Page(
        items=[
            _booking_fields(s, emails.get(s.user_id), payments.get(s.id)) for s in summaries.items
        ],
        next_cursor=summaries.next_cursor,
    )


async def bookings_page(
    session: AsyncSession, filters: BookingFilters, page: PageParams
) -> Page[AdminBookingRead]:
    rows = await booking_rows(session, filters, page)
    return Page(
        items=[AdminBookingRead.model_validate(row) for row in rows.items],
        next_cursor=rows.next_cursor,
    )


# --- audit -------------------------------------------------------------------------------


async def audit_page(
    session: AsyncSession, filters: AuditFilters, page: PageParams
) -> Page[AuditEntryRead]:
    """Audit entries matching the filters, newest first, each with its actor's e-mail."""
    actor_id = filters.actor
    if filters.actor_email is not None:
        by_email = await accounts.user_id_for_email(session, filters.actor_email)
        if by_email is None or (actor_id is not None and actor_id != by_email):
            return Page(items=[], next_cursor=None)
        actor_id = by_email
    query = AuditQuery(
        actor_id=actor_id,
        entity=filters.entity,
        entity_id=filters.entity_id,
        action=filters.action,
        occurred_from=filters.occurred_from,
        occurred_before=filters.occurred_to,
    )
    entries = await list_audit_entries(
        session, query, limit=page.limit + 1, after=decode_instant_cursor(page.cursor)
    )
    items = list(entries[: page.limit])
    next_cursor = None
    if len(entries) > page.limit:
        next_cursor = instant_cursor(items[-1].occurred_at, items[-1].id)
    emails = await accounts.emails_for(session, {e.actor_id for e in items if e.actor_id})
    return Page(
        items=[
            AuditEntryRead.model_validate(entry).model_copy(
                update={"actor_email": emails.get(entry.actor_id or "")}
            )
            for entry in items
        ],
        next_cursor=next_cursor,
    )
