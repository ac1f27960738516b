"""Live status: `GET/PUT /flights/{id}/status`, its history, and `POST /flights/status-feed`,
the signed webhook outside systems push status updates to."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Request

from flightdeck.flights.errors import FlightNotFound, InvalidStatusTransition, UnknownAirport
from flightdeck.flights.status import feed as status_feed
from flightdeck.flights.status import service
from flightdeck.flights.status.schemas import (
    FlightStatusChangeRead,
    FlightStatusRead,
    FlightStatusUpdate,
    status_to_read,
)
from flightdeck.platform.db import DbSession
from flightdeck.platform.errors import Forbidden, Unauthorized, error_responses
from flightdeck.platform.security.auth import StaffPrincipal
from flightdeck.platform.settings import AppSettings
from flightdeck.platform.text import ResourceId

router = APIRouter(tags=["flight status"])

_BODY_SCHEMA = status_feed.StatusFeedUpdate.model_json_schema(
    ref_template="#/components/schemas/{model}"
)


@router.post(
    "/flights/status-feed",
    responses=error_responses(
        status_feed.InvalidSignature,
        status_feed.StaleRequest,
        FlightNotFound,
        InvalidStatusTransition,
        422,
        status_feed.StatusFeedDisabled,
    ),
    openapi_extra={
        "requestBody": {"required": True, "content": {"application/json": {"schema": _BODY_SCHEMA}}}
    },
)
async def receive_status_feed(
    request: Request,
    session: DbSession,
    settings: AppSettings,
    timestamp: Annotated[str | None, Header(alias=status_feed.TIMESTAMP_HEADER)] = None,
    signature: Annotated[str | None, Header(alias=status_feed.SIGNATURE_HEADER)] = None,
) -> FlightStatusRead:
    """Apply a signed status update by flight number and local service date."""
    result = await status_feed.apply_signed_update(
        session,
        settings.status_feed_secret,
        timestamp=timestamp,
        signature=signature,
        body=await request.body(),
    )
    return status_to_read(result.flight, result.change.remark)


@router.get("/flights/{flight_id}/status", responses=error_responses(FlightNotFound))
async def get_flight_status(flight_id: ResourceId, session: DbSession) -> FlightStatusRead:
    """Live status, every instant in the relevant airport's local offset."""
    return await service.get_flight_status(session, flight_id)


@router.put(
    "/flights/{flight_id}/status",
    responses=error_responses(
        Unauthorized, Forbidden, FlightNotFound, InvalidStatusTransition, UnknownAirport, 422
    ),
)
async def update_flight_status(
    flight_id: ResourceId, update: FlightStatusUpdate, session: DbSession, principal: StaffPrincipal
) -> FlightStatusRead:
    """Set the live status (transitions per `ALLOWED_TRANSITIONS`), estimates, gate."""
    result = await service.update_flight_status(
        session, flight_id, update, actor_id=principal.user_id, source="api"
    )
    return status_to_read(result.flight, update.remark)


@router.get(
    "/flights/{flight_id}/status/history",
    responses=error_responses(Unauthorized, Forbidden, FlightNotFound),
)
async def list_flight_status_history(
    flight_id: ResourceId, session: DbSession, principal: StaffPrincipal
) -> list[FlightStatusChangeRead]:
    """Status changes of the flight, newest first."""
    return await service.list_status_history(session, flight_id)
