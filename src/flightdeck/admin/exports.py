"""CSV downloads of the admin listings and reports (`?format=csv`): every row, streamed."""

from __future__ import annotations

from collections.abc import AsyncIterator

from fastapi.responses import StreamingResponse
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from flightdeck.admin import csv_rows, listings
from flightdeck.admin.schemas import AuditFilters, BookingFilters, Report
from flightdeck.flights.reports.schemas import FlightOperationsFilters
from flightdeck.platform.clock import utcnow
from flightdeck.platform.csv_export import csv_response
from flightdeck.users.accounts.schemas import UserAccountFilters

Sessions = async_sessionmaker[AsyncSession]


def _filename(name: str) -> str:
    return f"{name}-{utcnow():%Y%m%dT%H%M%SZ}.csv"


def flights_csv(sessions: Sessions, filters: FlightOperationsFilters) -> StreamingResponse:
    flights = listings.all_rows(
        sessions, lambda session, page: listings.flights_page(session, filters, page)
    )
    rows = csv_rows.mapped(flights, csv_rows.flight_csv)
    return csv_response(_filename("flights"), csv_rows.FLIGHT_COLUMNS, rows)


def bookings_csv(sessions: Sessions, filters: BookingFilters) -> StreamingResponse:
    bookings = listings.all_rows(
        sessions, lambda session, page: listings.booking_rows(session, filters, page)
    )
    rows = csv_rows.mapped(bookings, csv_rows.booking_csv)
    return csv_response(_filename("bookings"), csv_rows.BOOKING_COLUMNS, rows)


def users_csv(sessions: Sessions, filters: UserAccountFilters) -> StreamingResponse:
    users = listings.all_rows(
        sessions, lambda session, page: listings.users_page(session, filters, page)
    )
    rows = csv_rows.mapped(users, csv_rows.user_csv)
    return csv_response(_filename("users"), csv_rows.USER_COLUMNS, rows)


def audit_csv(sessions: Sessions, filters: AuditFilters) -> StreamingResponse:
    entries = listings.all_rows(
        sessions, lambda session, page: listings.audit_page(session, filters, page)
    )
    rows = csv_rows.mapped(entries, csv_rows.audit_csv)
    return csv_response(_filename("audit"), csv_rows.AUDIT_COLUMNS, rows)


def report_csv(report: Report) -> StreamingResponse:
    """The report's rows, then its totals (key `total`), one line each."""

    async def lines() -> AsyncIterator[dict[str, object]]:
        for row in [*report.rows, *report.totals]:
            yield csv_rows.report_csv(row)

    name = f"{report.type}-{report.group_by}-{report.date_from}-{report.date_to}"
    return csv_response(f"{name}.csv", csv_rows.report_csv_columns(report.type), lines())
