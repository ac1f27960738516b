"""SQL of the payment aggregates: GROUP BY over `payment_segments` (revenue and refunds per
flight date, route, flight or cabin) and over `payments` (per booking)."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from sqlalchemy import Select, case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from flightdeck.payments.models import Payment, PaymentSegment
from flightdeck.payments.reports.records import (
    BookingPayments,
    RefundAggregate,
    RevenueAggregate,
)
from flightdeck.platform.reporting import (
    GroupBy,
    GroupColumns,
    ReportPeriod,
    group_columns,
    group_key,
)

# A payment in one of these took the money (later refunds are counted on their own).
CAPTURED_STATUSES = ("succeeded", "partially_refunded", "refunded", "disputed")

SEGMENT_GROUPS = GroupColumns(
    service_date=PaymentSegment.service_date,
    origin=PaymentSegment.origin,
    destination=PaymentSegment.destination,
    flight_number=PaymentSegment.flight_number,
    cabin=PaymentSegment.cabin,
)


def revenue_statement(
    period: ReportPeriod, group_by: GroupBy | None, currency: str | None
) -> Select[Any]:
    """Per group and currency: captured, refunded, bookings (on their first flight),
    passengers, RPK."""
    groups = group_columns(group_by, SEGMENT_GROUPS)
    statement = (
        select(
            *groups,
            PaymentSegment.currency,
            func.sum(PaymentSegment.captured_amount),
            func.sum(PaymentSegment.refunded_amount),
            # Each booking once, on its first flight: no DISTINCT (and so no sort) needed.
            func.sum(case((PaymentSegment.position == 0, 1), else_=0)),
            func.sum(PaymentSegment.passengers),
            func.sum(PaymentSegment.passengers * PaymentSegment.distance_km),
        )
        .where(
            PaymentSegment.service_date.between(period.date_from, period.date_to),
            PaymentSegment.captured_amount > 0,
        )
        .group_by(*groups, PaymentSegment.currency)
    )
    if currency is not None:
        statement = statement.where(PaymentSegment.currency == currency)
    return statement


async def revenue(
    session: AsyncSession, period: ReportPeriod, group_by: GroupBy | None, currency: str | None
) -> list[RevenueAggregate]:
    width = 0 if group_by is None else 2 if group_by == "route" else 1
    rows = await session.execute(revenue_statement(period, group_by, currency))
    return [
        RevenueAggregate(
            group_key(group_by, row[:width]), str(row[width]), *(int(v) for v in row[width + 1 :])
        )
        for row in rows
    ]


def refunds_statement(
    period: ReportPeriod, group_by: GroupBy | None, currency: str | None
) -> Select[Any]:
    """Per group and currency: what was paid back (the partial index of refunded segments)."""
    groups = group_columns(group_by, SEGMENT_GROUPS)
    statement = (
        select(*groups, PaymentSegment.currency, func.sum(PaymentSegment.refunded_amount))
        .where(
            PaymentSegment.service_date.between(period.date_from, period.date_to),
            PaymentSegment.refunded_amount > 0,
        )
        .group_by(*groups, PaymentSegment.currency)
    )
    if currency is not None:
        statement = statement.where(PaymentSegment.currency == currency)
    return statement


async def refunds(
    session: AsyncSession, period: ReportPeriod, group_by: GroupBy | None, currency: str | None
) -> list[RefundAggregate]:
    width = 0 if group_by is None else 2 if group_by == "route" else 1
    rows = await session.execute(refunds_statement(period, group_by, currency))
    return [
        RefundAggregate(group_key(group_by, row[:width]), str(row[width]), int(row[width + 1]))
        for row in rows
    ]


async def payments_of_bookings(
    session: AsyncSession, booking_ids: Collection[str]
) -> dict[str, BookingPayments]:
    if not booking_ids:
        return {}
    captured = case((Payment.status.in_(CAPTURED_STATUSES), Payment.amount), else_=0)
    rows = await session.execute(
        select(
            Payment.booking_id,
            func.min(Payment.currency),
            func.sum(captured),
            func.sum(Payment.refunded_amount),
        )
        .where(Payment.booking_id.in_(list(booking_ids)))
        .group_by(Payment.booking_id)
    )
    return {
        booking_id: BookingPayments(currency=currency, paid=int(paid), refunded=int(refunded))
        for booking_id, currency, paid, refunded in rows
    }
