"""/schedules: recurring schedules, the dated flights they generate, and SSIM imports."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Query, Request, Response, UploadFile, status
from fastapi.responses import StreamingResponse

from flightdeck.flights.errors import DuplicateFlight, ScheduleNotFound, UnknownAirport
from flightdeck.flights.schedules import exporter as schedule_export
from flightdeck.flights.schedules import importer as schedule_import
from flightdeck.flights.schedules import service as schedule_service
from flightdeck.flights.schedules.generation import ArrivalNotAfterDeparture, BlockTimeTooLong
from flightdeck.flights.schedules.importer import (
    DEFAULT_CURRENCY,
    DEFAULT_FARE_AMOUNT,
    MAX_IMPORT_BYTES,
)
from flightdeck.flights.schedules.schemas import (
    ScheduleChanged,
    ScheduleCreate,
    ScheduleCreated,
    ScheduleDeleted,
    ScheduleDetail,
    ScheduleImportResult,
    ScheduleRead,
    ScheduleUpdate,
    SsmResults,
)
from flightdeck.flights.schedules.ssim.legs import Fares
from flightdeck.flights.schedules.ssm import apply as ssm_apply
from flightdeck.flights.schemas import AirportCode, FlightNumber
from flightdeck.platform.bounds import MAX_AMOUNT
from flightdeck.platform.db import DbSession
from flightdeck.platform.errors import Forbidden, Unauthorized, error_responses
from flightdeck.platform.pagination import Page, PageParams, page_params
from flightdeck.platform.security.auth import StaffPrincipal
from flightdeck.platform.text import ResourceId

router = APIRouter(prefix="/schedules", tags=["schedules"])

_STAFF = (Unauthorized, Forbidden)
_STAFF_ERRORS = error_responses(*_STAFF)
SSM_EXAMPLE = """SSM
LT
NEW
FD101
01JUN 30JUN 1234567
J 320 C12Y138
AMS0700 LHR0715
LHR0900 JFK1130
"""


async def read_limited_body(request: Request, limit: int) -> bytes:
    """The request body, or 413 when it is longer than `limit` bytes."""
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise schedule_import.PayloadTooLargeError(f"The message is larger than {limit} bytes")
    return bytes(body)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    responses=error_responses(
        *_STAFF, UnknownAirport, ArrivalNotAfterDeparture, BlockTimeTooLong, DuplicateFlight, 422
    ),
)
async def create_schedule(
    body: ScheduleCreate, session: DbSession, principal: StaffPrincipal
) -> ScheduleCreated:
    """Create a recurring schedule and generate its future dated flights."""
    return await schedule_service.create_schedule(session, body, principal)


@router.get("", responses=_STAFF_ERRORS)
async def list_schedules(
    session: DbSession,
    _: StaffPrincipal,
    page: Annotated[PageParams, Depends(page_params)],
    flight_number: Annotated[FlightNumber | None, Query(examples=["FD101"])] = None,
    origin: Annotated[AirportCode | None, Query(examples=["JFK"])] = None,
    destination: Annotated[AirportCode | None, Query(examples=["LHR"])] = None,
) -> Page[ScheduleRead]:
    """List schedules, ordered by flight number and start of validity."""
    return await schedule_service.list_schedules(
        session, page, flight_number=flight_number, origin=origin, destination=destination
    )


@router.post(
    "/import",
    responses={
        201: {"description": "Schedules or flights were created"},
        **error_responses(
            *_STAFF,
            schedule_import.PayloadTooLargeError,
            schedule_import.NotSsim,
            schedule_import.ImportTooLarge,
            422,
        ),
    },
)
async def import_ssim(
    response: Response,
    session: DbSession,
    principal: StaffPrincipal,
    file: Annotated[UploadFile, File(description="IATA SSIM chapter 7 file, at most 5 MB")],
    default_fare_amount: Annotated[int | None, Form(ge=0, le=MAX_AMOUNT)] = None,
    currency: Annotated[str | None, Form(pattern=r"^[A-Z]{3}$")] = None,
) -> ScheduleImportResult:
    """Import an SSIM file: good legs load, bad lines are reported with their line number."""
    content = await file.read(MAX_IMPORT_BYTES + 1)
    result = await schedule_import.import_ssim(
        session,
        content,
        principal.user_id,
        default_fare_amount=default_fare_amount,
        currency=currency,
    )
    created = result.schedules_created or result.flights_created
    response.status_code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
    return result


@router.get(
    "/export",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "An IATA SSIM chapter 7 file (200-byte records), streamed",
            "content": {"text/plain": {"example": "1AIRLINE STANDARD SCHEDULE DATA SET ..."}},
        },
        **error_responses(*_STAFF, schedule_export.InvalidExportWindow, 422),
    },
)
async def export_ssim(
    request: Request,
    _: StaffPrincipal,
    carrier: Annotated[
        str | None,
        Query(pattern=r"^([A-Z]{2,3}|[A-Z][0-9]|[0-9][A-Z])$", examples=["FD"]),
    ] = None,
    first: Annotated[date | None, Query(alias="from", description="First flight date")] = None,
    last: Annotated[date | None, Query(alias="to", description="Last flight date")] = None,
) -> StreamingResponse:
    """The schedules (and lone flights) FlightDeck holds as an SSIM file, streamed."""
    schedule_export.check_export_window(first, last)
    name = f"flightdeck-{carrier or 'all'}.ssim"
    return StreamingResponse(
        schedule_export.stream_export(
            request.app.state.sessionmaker, carrier=carrier, first=first, last=last
        ),
        media_type="text/plain; charset=us-ascii",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@router.post(
    "/messages",
    openapi_extra={
        "requestBody": {
            "required": True,
            "description": "IATA SSM text (SSIM chapter 4): NEW, CNL, RIN, TIM, EQT, RPL",
            "content": {"text/plain": {"schema": {"type": "string"}, "example": SSM_EXAMPLE}},
        }
    },
    responses=error_responses(
        *_STAFF, ssm_apply.MalformedSsm, schedule_import.PayloadTooLargeError
    ),
)
async def apply_messages(
    request: Request,
    session: DbSession,
    principal: StaffPrincipal,
    default_fare_amount: Annotated[int | None, Query(ge=0, le=MAX_AMOUNT)] = None,
    currency: Annotated[str | None, Query(pattern=r"^[A-Z]{3}$")] = None,
) -> SsmResults:
    """Apply schedule change messages; each action is reported (applied or rejected)."""
    body = await read_limited_body(request, ssm_apply.MAX_MESSAGE_BYTES)
    fares = Fares(
        default_fare_amount if default_fare_amount is not None else DEFAULT_FARE_AMOUNT,
        currency or DEFAULT_CURRENCY,
    )
    return await ssm_apply.apply_ssm(
        session, body.decode("utf-8", errors="replace"), principal, fares=fares
    )


@router.get("/{schedule_id}", responses=error_responses(*_STAFF, ScheduleNotFound))
async def get_schedule(
    schedule_id: ResourceId, session: DbSession, _: StaffPrincipal
) -> ScheduleDetail:
    """The schedule with counts of its future flights."""
    return await schedule_service.get_schedule(session, schedule_id)


@router.put(
    "/{schedule_id}",
    responses=error_responses(
        *_STAFF,
        ScheduleNotFound,
        UnknownAirport,
        ArrivalNotAfterDeparture,
        BlockTimeTooLong,
        DuplicateFlight,
        422,
    ),
)
async def update_schedule(
    schedule_id: ResourceId, body: ScheduleUpdate, session: DbSession, principal: StaffPrincipal
) -> ScheduleChanged:
    """Replace the definition; future unbooked flights are regenerated, booked ones kept."""
    return await schedule_service.update_schedule(session, schedule_id, body, principal)


@router.delete("/{schedule_id}", responses=error_responses(*_STAFF, ScheduleNotFound))
async def delete_schedule(
    schedule_id: ResourceId, session: DbSession, principal: StaffPrincipal
) -> ScheduleDeleted:
    """Delete the schedule and its future unbooked flights; booked ones are kept."""
    return await schedule_service.delete_schedule(session, schedule_id, principal)
