"""Bookings as the airline's administration sees them, in whichever store holds them (SQL
or MongoDB): the listing of every booking, and the cancellation counts of reports."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from flightdeck.bookings.mongo_client import bookings_collection, is_mongo_url
from flightdeck.bookings.reports import repository_mongo, repository_sql
from flightdeck.bookings.reports.records import (
    BookingListQuery,
    BookingSummary,
    CancellationAggregate,
)
from flightdeck.bookings.stores import SETTINGS_INFO_KEY
from flightdeck.platform.pagination import (
    Page,
    PageParams,
    decode_instant_cursor,
    instant_cursor,
)
from flightdeck.platform.reporting import GroupBy, ReportPeriod
from flightdeck.platform.settings import Settings


def _mongo_url(session: AsyncSession) -> str | None:
    settings = session.info.get(SETTINGS_INFO_KEY)
    if isinstance(settings, Settings) and is_mongo_url(settings.bookings_store_url):
        return settings.bookings_store_url
    return None


async def list_bookings(
    session: AsyncSession, query: BookingListQuery, page: PageParams
) -> Page[BookingSummary]:
    """Every booking matching the query, newest first, keyset-paginated on (created, id)."""
    after = decode_instant_cursor(page.cursor)
    url = _mongo_url(session)
    if url is not None:
        summaries = await repository_mongo.list_summaries(
            bookings_collection(url), query, limit=page.limit + 1, after=after
        )
    else:
        summaries = await repository_sql.list_summaries(
            session, query, limit=page.limit + 1, after=after
        )
    items = summaries[: page.limit]
    next_cursor = None
    if len(summaries) > page.limit:
        next_cursor = instant_cursor(items[-1].created_at, items[-1].id)
    return Page(items=items, next_cursor=next_cursor)


async def cancellations(
    session: AsyncSession, period: ReportPeriod, group_by: GroupBy | None
) -> list[CancellationAggregate]:
    """Bookings on the flights of the period cancelled (by the airline, staff, the passenger)
    or expired, each counted once per group (one `total` row when `group_by` is None)."""
    url = _mongo_url(session)
    if url is not None:
        rows = await repository_mongo.cancellations(bookings_collection(url), period, group_by)
    else:
        rows = await repository_sql.cancellations(session, period, group_by)
    return sorted(rows, key=lambda row: row.key)
