"""HTTP routes of bookings: POST/GET /bookings, GET/DELETE /bookings/{id or PNR}."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, status
from fastapi.responses import Response

from flightdeck.bookings import service
from flightdeck.bookings.errors import (
    BookingNotCancellable,
    BookingNotFound,
    BookingStoreUnavailable,
    InvalidSeatSelection,
    MixedCurrencies,
    SegmentsNotConsecutive,
)
from flightdeck.bookings.schemas import (
    BookingCancellation,
    BookingCreate,
    BookingRead,
    CancellationQuote,
)
from flightdeck.flights.errors import (
    CabinNotOffered,
    DuplicateSeat,
    DuplicateSegment,
    FlightNotBookable,
    InvalidSeat,
    SeatsUnavailable,
    SeatUnavailable,
    TrafficRestricted,
    UnknownFlight,
)
from flightdeck.platform.db import WRITE_ADMISSION, DbSession
from flightdeck.platform.errors import TooManyRequests, Unauthorized, error_responses
from flightdeck.platform.http_limits import rate_limit
from flightdeck.platform.idempotency import (
    IdempotencyKeyHeader,
    IdempotencyKeyReused,
    IdempotencyRequestInProgress,
    request_fingerprint,
    run_idempotent,
)
from flightdeck.platform.pagination import Page, PageParams, page_params
from flightdeck.platform.security.auth import CurrentPrincipal
from flightdeck.platform.settings import AppSettings
from flightdeck.platform.text import RESOURCE_ID_PATTERN

router = APIRouter(tags=["bookings"])

BookingReference = Annotated[
    str,
    Path(description="The booking's id, or its PNR (any case)", pattern=RESOURCE_ID_PATTERN),
]


@router.post(
    "/bookings",
    status_code=status.HTTP_201_CREATED,
    response_model=BookingRead,
    responses=error_responses(
        Unauthorized,
        SeatsUnavailable,
        SeatUnavailable,
        FlightNotBookable,
        IdempotencyKeyReused,
        IdempotencyRequestInProgress,
        UnknownFlight,
        CabinNotOffered,
        InvalidSeat,
        DuplicateSeat,
        DuplicateSegment,
        TrafficRestricted,
        SegmentsNotConsecutive,
        MixedCurrencies,
        InvalidSeatSelection,
        422,
        TooManyRequests,
        BookingStoreUnavailable,
    ),
    # WRITE_ADMISSION: a hold waits for a write slot, so reads keep connections of their own.
    dependencies=[rate_limit("create_booking"), WRITE_ADMISSION],
)
async def create_booking(
    data: BookingCreate,
    session: DbSession,
    principal: CurrentPrincipal,
    settings: AppSettings,
    idempotency_key: IdempotencyKeyHeader = None,
) -> Response:
    """Hold seats on every segment and create a booking pending payment."""

    async def create() -> tuple[int, object]:
        booking = await service.create_booking(
            session, principal, data, hold_minutes=settings.hold_minutes
        )
        return status.HTTP_201_CREATED, booking

    outcome = await run_idempotent(
        session,
        scope=f"{principal.user_id}:POST /bookings",
        key=idempotency_key,
        # Only a request with a key is fingerprinted (a canonical JSON of the body per hold).
        fingerprint=request_fingerprint(data.model_dump(mode="json")) if idempotency_key else b"",
        produce=create,
    )
    return outcome.response()


@router.get("/bookings", responses=error_responses(Unauthorized, 422))
async def list_bookings(
    session: DbSession,
    principal: CurrentPrincipal,
    params: Annotated[PageParams, Depends(page_params)],
) -> Page[BookingRead]:
    """The caller's bookings, newest first."""
    return await service.list_bookings(session, principal, params)


@router.get("/bookings/{booking_id}", responses=error_responses(Unauthorized, BookingNotFound))
async def get_booking(
    booking_id: BookingReference, session: DbSession, principal: CurrentPrincipal
) -> BookingRead:
    """One booking, by id or PNR: its owner, agents and admins."""
    return await service.get_booking(session, principal, booking_id)


@router.get(
    "/bookings/{booking_id}/cancellation",
    responses=error_responses(Unauthorized, BookingNotFound),
)
async def quote_cancellation(
    booking_id: BookingReference, session: DbSession, principal: CurrentPrincipal
) -> CancellationQuote:
    """What cancelling now would pay back, by the fare rules (nothing changes)."""
    return await service.quote_cancellation(session, principal, booking_id)


@router.delete(
    "/bookings/{booking_id}",
    responses=error_responses(Unauthorized, BookingNotFound, BookingNotCancellable),
)
async def cancel_booking(
    booking_id: BookingReference, session: DbSession, principal: CurrentPrincipal
) -> BookingCancellation:
    """Cancel: seats back to inventory, refund per fare rules when paid."""
    return await service.cancel_booking(session, principal, booking_id)
