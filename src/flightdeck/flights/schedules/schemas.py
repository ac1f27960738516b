"""Request and response shapes of recurring schedules and of SSIM imports."""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    field_serializer,
    model_validator,
)

from flightdeck.flights.models import SOLD_SERVICE_TYPES, Schedule
from flightdeck.flights.schemas import (
    AircraftType,
    AirlineDesignator,
    AirportCode,
    CabinName,
    CabinSpec,
    FlightNumber,
    FlightRead,
)
from flightdeck.platform.bounds import FlightDate

# A schedule generates at most this many days of flights (a bit more than a year of seasons).
MAX_PERIOD_DAYS = 400
# IATA service types (SSIM Appendix C); models.SOLD_SERVICE_TYPES are the ones sold.
SERVICE_TYPES = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
# SSIM traffic restriction codes (Appendix G); see flights/inventory/traffic.py for their rules.
TRAFFIC_RESTRICTION_CODES = "ABCDEFGHIKMNOQTVWXYZ"
ScheduleStatus = Literal["active", "cancelled"]


def _check_days_of_week(days: str) -> str:
    if list(days) != sorted(set(days)):
        raise ValueError("days must be unique and ascending, Monday=1 … Sunday=7 (e.g. '135')")
    return days


def _check_wall_clock(value: time) -> time:
    if value.tzinfo is not None:
        raise ValueError("a local wall-clock time has no offset (the airport's zone applies)")
    if value.second or value.microsecond:
        raise ValueError("schedule times are whole minutes (HH:MM)")
    return value


ServiceType = Annotated[
    str, Field(pattern=f"^[{SERVICE_TYPES}]$", examples=["J"], description="IATA service type")
]
TrafficRestrictions = Annotated[
    str,
    Field(
        pattern=f"^[{TRAFFIC_RESTRICTION_CODES} ]{{0,10}}[{TRAFFIC_RESTRICTION_CODES}]$",
        examples=["A"],
        description="SSIM traffic restriction codes: position 1 for this leg, position 2 for "
        "this leg and the next one, … (blank: none)",
    ),
]
DaysOfWeek = Annotated[
    str,
    Field(pattern=r"^[1-7]{1,7}$", examples=["1234567", "135"]),
    AfterValidator(_check_days_of_week),
]
LocalTime = Annotated[time, Field(examples=["08:30"]), AfterValidator(_check_wall_clock)]


class ScheduleCreate(BaseModel):
    """A recurring flight in airport local times; it generates one flight per operating day."""

    flight_number: FlightNumber = Field(examples=["FD101"])
    origin: AirportCode = Field(examples=["JFK"])
    destination: AirportCode = Field(examples=["LHR"])
    departure_local: LocalTime
    arrival_local: LocalTime
    arrival_day_offset: int = Field(default=0, ge=-1, le=2)
    days_of_week: DaysOfWeek
    valid_from: FlightDate
    valid_to: FlightDate
    aircraft: AircraftType | None = None
    cabins: dict[CabinName, CabinSpec] = Field(
        description="At least one for a passenger service (service types "
        f"{', '.join(SOLD_SERVICE_TYPES)}); may be empty for cargo, charter and other services"
    )
    # What SSIM files and SSM messages carry; an API client may leave them out.
    leg_sequence: int = Field(default=1, ge=1, le=99, description="Leg of a multi-leg flight")
    itinerary_variation: int | None = Field(default=None, ge=1, le=999)
    departure_day_offset: int = Field(
        default=0,
        ge=-1,
        le=7,
        description="Days after the flight's date (its first leg's departure) this leg departs "
        "(-1: the day before, a leg after crossing the date line westwards)",
    )
    service_type: ServiceType = "J"
    status: ScheduleStatus = Field(
        default="active", description="cancelled: kept (an SSM RIN reinstates it), no flights"
    )
    traffic_restrictions: TrafficRestrictions | None = None
    operating_carrier: AirlineDesignator | None = Field(
        default=None, description="The airline operating this codeshare leg"
    )
    operating_flight: FlightNumber | None = Field(
        default=None, description="The operating carrier's flight number of this leg"
    )
    onward_flight: FlightNumber | None = Field(
        default=None, description="The flight the aircraft flies next"
    )
    aircraft_configuration: str | None = Field(
        default=None,
        max_length=155,  # as long as segment data element 108 may carry
        pattern=r"^[!-~]([ -~]*[!-~])?$",
        description="The aircraft configuration/version as filed, e.g. J14W34Y316VV364",
    )

    @model_validator(mode="after")
    def _check_route_and_period(self) -> ScheduleCreate:
        if self.origin == self.destination:
            raise ValueError("origin and destination must differ")
        if not self.cabins and self.service_type in SOLD_SERVICE_TYPES:
            raise ValueError("cabins: a passenger service needs at least one cabin")
        if self.valid_to < self.valid_from:
            raise ValueError("valid_to must not be before valid_from")
        if (self.valid_to - self.valid_from).days >= MAX_PERIOD_DAYS:
            raise ValueError(f"the validity period is at most {MAX_PERIOD_DAYS} days")
        return self

    def cabins_json(self) -> dict[str, Any]:
        """The cabins as stored on the schedule row."""
        return {name: spec.model_dump() for name, spec in self.cabins.items()}


class ScheduleUpdate(ScheduleCreate):
    """A full replacement of the schedule's definition."""


class ScheduleRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    flight_number: str
    origin: str
    destination: str
    departure_local: time
    arrival_local: time
    arrival_day_offset: int
    days_of_week: str
    valid_from: date
    valid_to: date
    aircraft: str | None
    cabins: dict[str, CabinSpec]
    source: str
    created_by: str | None
    created_at: datetime
    updated_at: datetime
    leg_sequence: int
    itinerary_variation: int | None
    departure_day_offset: int
    service_type: str
    status: str
    traffic_restrictions: str | None
    operating_carrier: str | None
    operating_flight: str | None
    onward_flight: str | None
    aircraft_configuration: str | None

    @field_serializer("departure_local", "arrival_local")
    def _as_hh_mm(self, value: time) -> str:
        return value.strftime("%H:%M")


class ScheduleDetail(ScheduleRead):
    future_flights: int = Field(description="Generated flights not yet departed")
    future_flights_with_bookings: int = Field(description="Of those, flights with seats sold")


def schedule_to_read(schedule: Schedule) -> ScheduleRead:
    return ScheduleRead.model_validate(schedule)


class SkippedDate(BaseModel):
    service_date: date
    reason: Literal["flight_exists", "departure_passed", "kept_booked_flight"]


class KeptFlight(BaseModel):
    """A future flight the change left as it was because seats on it are sold."""

    id: str
    flight_number: str
    service_date: date
    reason: Literal["has_bookings"] = "has_bookings"
    difference: str | None = Field(
        default=None,
        description="How the flight now differs from its schedule (its passengers are told): "
        "'not in the schedule any more', 'times', 'aircraft', 'cabins'; null: it matches",
    )


class ScheduleCreated(BaseModel):
    schedule: ScheduleRead
    flights_created: int
    flights: list[FlightRead]
    skipped: list[SkippedDate]


class ScheduleChanged(BaseModel):
    schedule: ScheduleRead
    flights_created: int
    flights_removed: int
    kept_flights: list[KeptFlight]
    skipped: list[SkippedDate]


class ScheduleDeleted(BaseModel):
    flights_removed: int
    kept_flights: list[KeptFlight] = Field(
        description="Booked future flights left in place, no longer linked to a schedule"
    )


class ImportRejection(BaseModel):
    line_number: int
    reason: str


class ImportWarning(BaseModel):
    line_number: int
    warning: str


class ScheduleImportResult(BaseModel):
    schedules_created: int
    schedules_skipped: int = Field(description="Legs matching a schedule that already exists")
    flights_created: int
    flights_skipped: int = Field(
        description="Operating days not generated: departed, or the flight number flies that day"
    )
    rejected: list[ImportRejection]
    warnings: list[ImportWarning]
    carriers: list[str]
    time_mode: str | None
    legs_of_other_carriers: int = Field(
        default=0, description="Legs passed over because they belong to another carrier"
    )


class SsmMessageResult(BaseModel):
    """What one action of an SSM message did (`rejected`: nothing, see `reason`)."""

    index: int = Field(description="1 for the message's first action")
    line_number: int = Field(description="The line of the action")
    action: str
    flight_number: str
    status: Literal["applied", "rejected"]
    reason: str | None = None
    schedules_created: int = 0
    schedules_changed: int = Field(default=0, description="Existing schedules changed or deleted")
    flights_created: int = 0
    flights_removed: int = 0
    kept_flights: list[KeptFlight] = Field(default_factory=list)


class SsmResults(BaseModel):
    time_mode: str
    messages: list[SsmMessageResult]
