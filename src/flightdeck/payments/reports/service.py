"""Payments as reports see them: revenue and refunds per group of flights, and what each
booking paid (the admin domain composes them)."""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy.ext.asyncio import AsyncSession

from flightdeck.payments.reports import repository
from flightdeck.payments.reports.records import (
    BookingPayments,
    RefundAggregate,
    RevenueAggregate,
)
from flightdeck.platform.reporting import GroupBy, ReportPeriod

_IN_CHUNK = 500


async def revenue(
    session: AsyncSession,
    period: ReportPeriod,
    group_by: GroupBy | None,
    currency: str | None = None,
) -> list[RevenueAggregate]:
    """Captured and refunded money for the flights of the period, per group and currency
    (one `total` row per currency when `group_by` is None), in (key, currency) order."""
    rows = await repository.revenue(session, period, group_by, currency)
    return sorted(rows, key=lambda row: (row.key, row.currency))


async def refunds(
    session: AsyncSession,
    period: ReportPeriod,
    group_by: GroupBy | None,
    currency: str | None = None,
) -> list[RefundAggregate]:
    """Money paid back for the flights of the period, per group and currency."""
    rows = await repository.refunds(session, period, group_by, currency)
    return sorted(rows, key=lambda row: (row.key, row.currency))


async def payments_of_bookings(
    session: AsyncSession, booking_ids: Collection[str]
) -> dict[str, BookingPayments]:
    """What each of these bookings paid and got back (bookings without payments left out)."""
    ids = list(dict.fromkeys(booking_ids))
    found: dict[str, BookingPayments] = {}
    for start in range(0, len(ids), _IN_CHUNK):
        found.update(await repository.payments_of_bookings(session, ids[start : start + _IN_CHUNK]))
    return found
