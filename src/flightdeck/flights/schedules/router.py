"""/schedules: recurring schedules, the dated flights they generate, and SSIM imports."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Query, Response, UploadFile, status

from flightdeck.flights.errors import DuplicateFlight, ScheduleNotFound, UnknownAirport
from flightdeck.flights.schedules import importer as schedule_import
from flightdeck.flights.schedules import service as schedule_service
from flightdeck.flights.schedules.importer import MAX_IMPORT_BYTES
from flightdeck.flights.schedules.schemas import (
    ScheduleChanged,
    ScheduleCreate,
    ScheduleCreated,
    ScheduleDeleted,
    ScheduleDetail,
    ScheduleImportResult,
    ScheduleRead,
    ScheduleUpdate,
)
from flightdeck.flights.schedules.service import ArrivalNotAfterDeparture, BlockTimeTooLong
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
        session, content, principal, default_fare_amount=default_fare_amount, currency=currency
    )
    created = result.schedules_created or result.flights_created
    response.status_code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
    return result


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
