"""`POST /flights/status-feed`: the signed webhook outside systems push status updates to."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Request

from flightdeck.flights import status_feed
from flightdeck.flights.status_schemas import FlightStatusRead, status_to_read
from flightdeck.platform.db import DbSession
from flightdeck.platform.errors import error_responses

router = APIRouter()

_BODY_SCHEMA = status_feed.StatusFeedUpdate.model_json_schema(
    ref_template="#/components/schemas/{model}"
)


@router.post(
    "/flights/status-feed",
    tags=["flight status"],
    responses=error_responses(400, 404, 409, 422, 503),
    openapi_extra={
        "requestBody": {"required": True, "content": {"application/json": {"schema": _BODY_SCHEMA}}}
    },
)
async def receive_status_feed(
    request: Request,
    session: DbSession,
    timestamp: Annotated[str | None, Header(alias=status_feed.TIMESTAMP_HEADER)] = None,
    signature: Annotated[str | None, Header(alias=status_feed.SIGNATURE_HEADER)] = None,
) -> FlightStatusRead:
    """Apply a signed status update by flight number and local service date."""
    result = await status_feed.apply_signed_update(
        session,
        request.app.state.settings.status_feed_secret,
        timestamp=timestamp,
        signature=signature,
        body=await request.body(),
    )
    return status_to_read(result.flight, result.change.remark)
