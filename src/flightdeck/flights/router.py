"""HTTP endpoints of airports and dated flights (status, seats and schedules have their own
sub-packages)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response, status

from flightdeck.flights import service
from flightdeck.flights.airports import search_airports
from flightdeck.flights.errors import (
    CapacityBelowSold,
    DuplicateFlight,
    FlightNotEditable,
    FlightNotFound,
    UnknownAirport,
)
from flightdeck.flights.schemas import (
    AirportRead,
    FlightCancelled,
    FlightCreate,
    FlightFilters,
    FlightRead,
    FlightUpdate,
    flight_to_read,
)
from flightdeck.platform.db import DbSession
from flightdeck.platform.errors import Forbidden, Unauthorized, error_responses
from flightdeck.platform.pagination import Page, PageParams, page_params
from flightdeck.platform.security.auth import StaffPrincipal
from flightdeck.platform.text import ResourceId

router = APIRouter()

MAX_AIRPORTS = 50
STAFF_ERRORS = (Unauthorized, Forbidden)


@router.get("/airports", tags=["airports"], responses=error_responses(422))
async def list_airports(
    q: Annotated[str | None, Query(max_length=64, description="IATA code, city or name")] = None,
    limit: Annotated[int, Query(ge=1, description="At most 50 are returned")] = 20,
) -> list[AirportRead]:
    """IATA airports matching `q`: exact code first, then code, city and name matches."""
    return [AirportRead.from_airport(a) for a in search_airports(q, min(limit, MAX_AIRPORTS))]


@router.post(
    "/flights",
    status_code=status.HTTP_201_CREATED,
    tags=["flights"],
    responses=error_responses(*STAFF_ERRORS, DuplicateFlight, UnknownAirport, 422),
)
async def create_flight(
    data: FlightCreate, session: DbSession, principal: StaffPrincipal
) -> FlightRead:
    """Create one dated flight."""
    return flight_to_read(await service.create_flight(session, data))


@router.get("/flights", tags=["flights"], responses=error_responses(UnknownAirport, 422))
async def list_flights(
    filters: Annotated[FlightFilters, Query()],
    page: Annotated[PageParams, Depends(page_params)],
    session: DbSession,
) -> Page[FlightRead]:
    """Flights by departure; `date` is the local date at the origin."""
    return await service.list_flights(session, filters, page)


@router.get("/flights/{flight_id}", tags=["flights"], responses=error_responses(FlightNotFound))
async def get_flight(flight_id: ResourceId, session: DbSession) -> FlightRead:
    """One flight with seats available per cabin."""
    return flight_to_read(await service.get_flight(session, flight_id))


@router.put(
    "/flights/{flight_id}",
    tags=["flights"],
    responses=error_responses(
        *STAFF_ERRORS,
        FlightNotFound,
        CapacityBelowSold,
        DuplicateFlight,
        FlightNotEditable,
        422,
    ),
)
async def update_flight(
    flight_id: ResourceId, data: FlightUpdate, session: DbSession, principal: StaffPrincipal
) -> FlightRead:
    """Change times, aircraft or cabins (never below seats sold)."""
    flight = await service.update_flight(session, flight_id, data, actor_id=principal.user_id)
    return flight_to_read(flight)


@router.delete(
    "/flights/{flight_id}",
    tags=["flights"],
    response_model=FlightCancelled,
    responses={
        204: {"description": "Removed: nothing was sold"},
        **error_responses(*STAFF_ERRORS, FlightNotFound, FlightNotEditable),
    },
)
async def delete_flight(
    flight_id: ResourceId, session: DbSession, principal: StaffPrincipal
) -> FlightCancelled | Response:
    """Remove a flight with nothing sold (204); cancel it when seats are sold (200)."""
    outcome = await service.delete_flight(session, flight_id, actor_id=principal.user_id)
    if outcome.removed or outcome.flight is None:
        return Response(status_code=status.HTTP_204_NO_CONTENT)
    return FlightCancelled(
        flight=flight_to_read(outcome.flight), affected_bookings=outcome.affected_bookings
    )
