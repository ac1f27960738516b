"""Airline reports composed from the aggregates each owner computes in SQL: revenue
(payments), occupancy and punctuality (flights), cancellations (flights, bookings and
payments). This module only derives the ratios from those integers and lines the owners'
groups up by key; it never sees a row of anyone's table.

Ratios: computed here from the integer sums, the same on every database. Shares and factors
to 4 decimals, yield to 6, average delay to 2; average fare in whole minor units, half up.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from flightdeck.admin.errors import PeriodTooLong, UnsupportedGrouping
from flightdeck.admin.schemas import (
    MAX_REPORT_DAYS,
    CancellationRow,
    OccupancyRow,
    OnTimeRow,
    Report,
    ReportParams,
    ReportRow,
    RevenueRow,
)
from flightdeck.bookings.reports import service as bookings_reports
from flightdeck.flights.reports import service as flights_reports
from flightdeck.flights.reports.records import OccupancyAggregate, PunctualityAggregate
from flightdeck.payments.reports import service as payments_reports
from flightdeck.payments.reports.records import RevenueAggregate
from flightdeck.platform.clock import utcnow
from flightdeck.platform.money import Money
from flightdeck.platform.reporting import GroupBy, ReportPeriod, prepare_report_transaction

DEFAULT_DAYS = 30
# Groupings that mean nothing for a report (a flight's punctuality has no cabin).
UNSUPPORTED: dict[str, frozenset[str]] = {
    "on_time": frozenset({"cabin"}),
    "cancellations": frozenset({"cabin"}),
}


def ratio(part: int, whole: int, digits: int = 4) -> float:
    return round(part / whole, digits) if whole else 0.0


def rounded_half_up(total: int, count: int) -> int:
    """total / count to the nearest integer, halves up (non-negative totals)."""
    return (2 * total + count) // (2 * count) if count else 0


def report_period(params: ReportParams) -> ReportPeriod:
    date_to = params.date_to or (
        utcnow().date()
        if params.date_from is None
        else params.date_from + timedelta(days=DEFAULT_DAYS - 1)
    )
    date_from = params.date_from or date_to - timedelta(days=DEFAULT_DAYS - 1)
    if (date_to - date_from).days + 1 > MAX_REPORT_DAYS:
        raise PeriodTooLong(details={"from": date_from.isoformat(), "to": date_to.isoformat()})
    return ReportPeriod(date_from, date_to)


def revenue_row(aggregate: RevenueAggregate) -> RevenueRow:
    currency, net = aggregate.currency, aggregate.captured - aggregate.refunded
    return RevenueRow(
        key=aggregate.key,
        currency=currency,
        captured=Money(amount=aggregate.captured, currency=currency),
        refunded=Money(amount=aggregate.refunded, currency=currency),
        revenue=Money(amount=net, currency=currency),
        bookings=aggregate.bookings,
        passengers=aggregate.passengers,
        average_fare=Money(amount=rounded_half_up(net, aggregate.passengers), currency=currency),
        rpk=aggregate.rpk,
        yield_per_rpk=ratio(net, aggregate.rpk, 6),
    )


def occupancy_row(aggregate: OccupancyAggregate) -> OccupancyRow:
    return OccupancyRow(
        key=aggregate.key,
        flights=aggregate.flights,
        seats_offered=aggregate.seats_offered,
        seats_sold=aggregate.seats_sold,
        seat_factor=ratio(aggregate.seats_sold, aggregate.seats_offered),
        ask=aggregate.ask,
        rpk=aggregate.rpk,
        load_factor=ratio(aggregate.rpk, aggregate.ask),
    )


def on_time_row(aggregate: PunctualityAggregate) -> OnTimeRow:
    return OnTimeRow(
        key=aggregate.key,
        flights=aggregate.flights,
        operated=aggregate.operated,
        departed_on_time=aggregate.departed_on_time,
        d15=ratio(aggregate.departed_on_time, aggregate.operated),
        completed=aggregate.completed,
        arrived_on_time=aggregate.arrived_on_time,
        a15=ratio(aggregate.arrived_on_time, aggregate.completed),
        cancelled=aggregate.cancelled,
        diverted=aggregate.diverted,
        average_delay_minutes=ratio(aggregate.delay_minutes_total, aggregate.operated, 2),
        p90_delay_minutes=aggregate.p90_delay_minutes,
    )


async def _revenue(
    session: AsyncSession, period: ReportPeriod, group_by: GroupBy | None, currency: str | None
) -> list[ReportRow]:
    aggregates = await payments_reports.revenue(session, period, group_by, currency)
    return [revenue_row(aggregate) for aggregate in aggregates]


async def _occupancy(
    session: AsyncSession, period: ReportPeriod, group_by: GroupBy | None
) -> list[ReportRow]:
    aggregates = await flights_reports.occupancy(session, period, group_by)
    return [occupancy_row(aggregate) for aggregate in aggregates]


async def _on_time(
    session: AsyncSession, period: ReportPeriod, group_by: GroupBy | None
) -> list[ReportRow]:
    aggregates = await flights_reports.punctuality(session, period, group_by)
    return [on_time_row(aggregate) for aggregate in aggregates]


async def _cancellations(
    session: AsyncSession, period: ReportPeriod, group_by: GroupBy | None, currency: str | None
) -> list[ReportRow]:
    flights = await flights_reports.cancelled_flights(session, period, group_by)
    bookings = {
        row.key: row for row in await bookings_reports.cancellations(session, period, group_by)
    }
    refunds: dict[str, list[Money]] = {}
    for refund in await payments_reports.refunds(session, period, group_by, currency):
        refunds.setdefault(refund.key, []).append(
            Money(amount=refund.refunded, currency=refund.currency)
        )
    rows: list[ReportRow] = []
    for key in sorted({*flights, *bookings, *refunds}):
        booked = bookings.get(key)
        rows.append(
            CancellationRow(
                key=key,
                flights_cancelled=flights.get(key, 0),
                bookings_cancelled_by_airline=booked.by_airline if booked else 0,
                bookings_cancelled_by_staff=booked.by_staff if booked else 0,
                bookings_cancelled_by_passenger=booked.by_passenger if booked else 0,
                holds_expired=booked.expired if booked else 0,
                refunds_paid=refunds.get(key, []),
            )
        )
    return rows


async def _rows(
    session: AsyncSession,
    params: ReportParams,
    period: ReportPeriod,
    group_by: GroupBy | None,
) -> list[ReportRow]:
    if params.type == "revenue":
        return await _revenue(session, period, group_by, params.currency)
    if params.type == "occupancy":
        return await _occupancy(session, period, group_by)
    if params.type == "on_time":
        return await _on_time(session, period, group_by)
    return await _cancellations(session, period, group_by, params.currency)


async def build_report(session: AsyncSession, params: ReportParams) -> Report:
    """The report's rows per group and its totals over the whole period. 422
    `unsupported_grouping` (on_time or cancellations by cabin), `period_too_long`."""
    if params.group_by in UNSUPPORTED.get(params.type, frozenset()):
        raise UnsupportedGrouping(
            f"A {params.type} report cannot be grouped by {params.group_by}",
            details={"type": params.type, "group_by": params.group_by},
        )
    period = report_period(params)
    await prepare_report_transaction(session)
    return Report(
        type=params.type,
        group_by=params.group_by,
        date_from=period.date_from,
        date_to=period.date_to,
        currency=params.currency,
        rows=await _rows(session, params, period, params.group_by),
        totals=await _rows(session, params, period, None),
    )


def report_columns(report_type: str) -> Sequence[str]:
    """The CSV columns of a report type: its row's fields (money as minor units)."""
    models: dict[str, type[BaseModel]] = {
        "revenue": RevenueRow,
        "occupancy": OccupancyRow,
        "on_time": OnTimeRow,
        "cancellations": CancellationRow,
    }
    return list(models[report_type].model_fields)
