"""`/admin/*`: the airline's administration (admins only; agents get 403). Listings take
their filters in the query string and `?format=csv` for every row as a CSV download."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from flightdeck.admin import exports, listings, reports
from flightdeck.admin.errors import PeriodTooLong, UnsupportedGrouping
from flightdeck.admin.schemas import (
    AdminBookingRead,
    AuditEntryRead,
    AuditFilters,
    BookingFilters,
    OutputFormat,
    Report,
    ReportParams,
)
from flightdeck.flights.errors import UnknownAirport
from flightdeck.flights.reports.schemas import FlightOperationsFilters, FlightOperationsRead
from flightdeck.platform.db import DbSession
from flightdeck.platform.errors import Forbidden, Unauthorized, error_responses
from flightdeck.platform.pagination import Page, PageParams, page_params
from flightdeck.platform.replica import ReadSession
from flightdeck.platform.security.auth import AdminPrincipal
from flightdeck.users.accounts import service as accounts
from flightdeck.users.accounts.schemas import (
    UserAccessUpdate,
    UserAccountFilters,
    UserAccountRead,
)
from flightdeck.users.errors import OwnAccessUnchangeable, UserNotFound

router = APIRouter(prefix="/admin", tags=["admin"])

ADMIN_ERRORS = (Unauthorized, Forbidden, 422)
CSV: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "JSON, or with `?format=csv` every matching row as a CSV download",
        "content": {"text/csv": {"schema": {"type": "string"}}},
    }
}
Pages = Annotated[PageParams, Depends(page_params)]
Format = Annotated[OutputFormat, Query(alias="format", description="json, or csv: every row")]


async def sessions(request: Request) -> async_sessionmaker[AsyncSession]:
    """The app's sessionmaker: a CSV download reads page after page in sessions of its own,
    after the request's session has closed."""
    maker: async_sessionmaker[AsyncSession] = request.app.state.sessionmaker
    return maker


Sessions = Annotated[async_sessionmaker[AsyncSession], Depends(sessions)]


@router.get(
    "/flights",
    response_model=Page[FlightOperationsRead],
    responses={**CSV, **error_responses(*ADMIN_ERRORS, UnknownAirport)},
)
async def list_flights(
    filters: Annotated[FlightOperationsFilters, Query()],
    page: Pages,
    session: DbSession,
    makers: Sessions,
    _: AdminPrincipal,
    output: Format = "json",
) -> Any:
    """Every flight with capacity, sold and load factor per cabin, status and delays."""
    if output == "csv":
        return exports.flights_csv(makers, filters)
    return await listings.flights_page(session, filters, page)


@router.get(
    "/bookings",
    response_model=Page[AdminBookingRead],
    responses={**CSV, **error_responses(*ADMIN_ERRORS)},
)
async def list_bookings(
    filters: Annotated[BookingFilters, Query()],
    page: Pages,
    session: DbSession,
    makers: Sessions,
    _: AdminPrincipal,
    output: Format = "json",
) -> Any:
    """Every booking (whichever store holds it) with its owner, segments and money."""
    if output == "csv":
        return exports.bookings_csv(makers, filters)
    return await listings.bookings_page(session, filters, page)


@router.get(
    "/reports",
    response_model=Report,
    responses={**CSV, **error_responses(*ADMIN_ERRORS, UnsupportedGrouping, PeriodTooLong)},
)
async def get_report(
    params: Annotated[ReportParams, Query()],
    session: ReadSession,
    _: AdminPrincipal,
    output: Format = "json",
) -> Any:
    """Revenue, occupancy, on-time performance or cancellations per group, with totals (read
    from the replica when there is one: a change of the last moments may be missing)."""
    report = await reports.build_report(session, params)
    return exports.report_csv(report) if output == "csv" else report


@router.get(
    "/users",
    response_model=Page[UserAccountRead],
    responses={**CSV, **error_responses(*ADMIN_ERRORS)},
)
async def list_users(
    filters: Annotated[UserAccountFilters, Query()],
    page: Pages,
    session: DbSession,
    makers: Sessions,
    _: AdminPrincipal,
    output: Format = "json",
) -> Any:
    """Accounts, newest first; filter by role, exact e-mail, active."""
    if output == "csv":
        return exports.users_csv(makers, filters)
    return await listings.users_page(session, filters, page)


@router.patch(
    "/users/{user_id}",
    responses=error_responses(*ADMIN_ERRORS, UserNotFound, OwnAccessUnchangeable),
)
async def update_user(
    user_id: str, changes: UserAccessUpdate, session: DbSession, admin: AdminPrincipal
) -> UserAccountRead:
    """Change a role or (de)activate: in effect from the user's next request."""
    return await accounts.update_access(session, user_id, changes, actor_id=admin.user_id)


@router.get(
    "/audit",
    response_model=Page[AuditEntryRead],
    responses={**CSV, **error_responses(*ADMIN_ERRORS)},
)
async def list_audit(
    filters: Annotated[AuditFilters, Query()],
    page: Pages,
    session: DbSession,
    makers: Sessions,
    _: AdminPrincipal,
    output: Format = "json",
) -> Any:
    """Who changed what and when, from where, with the changed fields' before/after."""
    if output == "csv":
        return exports.audit_csv(makers, filters)
    return await listings.audit_page(session, filters, page)
