"""HTTP routes of bookings: POST/GET /bookings, GET/DELETE /bookings/{id or PNR}."""

from __future__ import annotations

from functools import partial
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request, status
from fastapi.responses import Response
from prometheus_client import Counter

from flightdeck.bookings import holds, service
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
from flightdeck.platform.db import DbSession, request_session, write_slot
from flightdeck.platform.errors import TooManyRequests, Unauthorized, error_responses
from flightdeck.platform.http_limits import check_route_limit_name, enforce_route_limit
from flightdeck.platform.idempotency import (
    IdempotencyKeyHeader,
    IdempotencyKeyReused,
    IdempotencyRequestInProgress,
    KeyClaim,
    request_fingerprint,
    run_idempotent,
)
from flightdeck.platform.pagination import Page, PageParams, page_params
from flightdeck.platform.security.auth import (
    SIGNED_IN_OPERATION,
    CurrentPrincipal,
    request_principal,
)
from flightdeck.platform.settings import app_settings
from flightdeck.platform.text import RESOURCE_ID_PATTERN

router = APIRouter(tags=["bookings"])

HOLD_LIMIT = check_route_limit_name("create_booking")
HOLD_ANSWERS = Counter(
    "flightdeck_hold_answers_total",
    "POST /bookings answered before routing (edge: bookings/edge.py) or by the route (what "
    "the edge passed on)",
    ["source"],
)
READ_ANSWERS = Counter(
    "flightdeck_booking_read_answers_total",
    "GET /bookings/{booking_id} answered before routing (edge: bookings/edge.py) or by the "
    "route (what the edge passed on)",
    ["source"],
)

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
    openapi_extra=SIGNED_IN_OPERATION,
)
async def create_booking(
    request: Request, data: BookingCreate, idempotency_key: IdempotencyKeyHeader = None
) -> Response:
    """Hold seats on every segment and create a booking pending payment."""
    # A hold whose body and header validate is answered before routing (bookings/edge.py);
    # this route answers the rest: what does not validate, and a request without a declared
    # length or JSON content type.
    HOLD_ANSWERS.labels("route").inc()
    return await hold_response(request, data, idempotency_key)


async def hold_response(
    request: Request, data: BookingCreate, idempotency_key: str | None
) -> Response:
    """The hold's answer (201, or the idempotent replay), from the route or the edge.

    The busiest write solves no FastAPI dependencies (solving them was 11 % of the server's
    CPU under the holds bench): it takes the steps they took, in their order, except that the
    body and the header are validated first (with a bad token the 401 still comes before
    their 422: `SIGNED_IN_OPERATION`). Then the hold limit; then a write slot (reads keep
    connections of their own; a hold of one round trip waits for a brief one first), held
    until the session has committed."""
    await enforce_route_limit(HOLD_LIMIT, request)
    settings = app_settings(request)
    brief = holds.brief_hold(data, settings)
    async with write_slot(request, brief=brief), request_session(request) as session:
        principal = await request_principal(request, session)
        hold_minutes = settings.hold_minutes

        async def create() -> tuple[int, object]:
            booking = await holds.create_booking(
                session, principal, data, hold_minutes=hold_minutes
            )
            return status.HTTP_201_CREATED, booking

        async def create_claiming(claim: KeyClaim) -> tuple[int, object] | None:
            booking = await holds.create_booking_claiming(
                session,
                principal,
                data,
                partial(claim.row, status.HTTP_201_CREATED),
                hold_minutes=hold_minutes,
            )
            return None if booking is None else (status.HTTP_201_CREATED, booking)

        outcome = await run_idempotent(
            session,
            scope=f"{principal.user_id}:POST /bookings",
            key=idempotency_key,
            # Only a request with a key is fingerprinted (a canonical JSON of the body per hold).
            fingerprint=(
                request_fingerprint(data.model_dump(mode="json")) if idempotency_key else b""
            ),
            produce=create,
            produce_claiming=create_claiming,
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


@router.get(
    "/bookings/{booking_id}",
    response_model=BookingRead,
    responses=error_responses(Unauthorized, BookingNotFound),
    openapi_extra=SIGNED_IN_OPERATION,
)
async def get_booking(request: Request, booking_id: BookingReference) -> Response:
    """One booking, by id or PNR: its owner, agents and admins."""
    # A read whose path validates is answered before routing (bookings/edge.py); this route
    # answers the rest (its 422, a request with a query string).
    READ_ANSWERS.labels("route").inc()
    return await booking_response(request, booking_id)


async def booking_response(request: Request, booking_id: str) -> Response:
    """The booking's answer, from the route or the edge. Read beside the holds: no FastAPI
    dependencies either (as `hold_response`)."""
    async with request_session(request) as session:
        principal = await request_principal(request, session)
        booking = await service.get_booking(session, principal, booking_id)
    return Response(booking.model_dump_json(), media_type="application/json")


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
