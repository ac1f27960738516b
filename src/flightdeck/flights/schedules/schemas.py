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

from flightdeck.flights.models import Schedule
from flightdeck.flights.schemas import (
    AircraftType,
    AirportCode,
    CabinName,
    CabinSpec,
    FlightNumber,
    FlightRead,
)
from flightdeck.platform.bounds import FlightDate

# A schedule generates at most this many days of flights (a bit more than a year of seasons).
MAX_PERIOD_DAYS = 400


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
    cabins: dict[CabinName, CabinSpec] = Field(min_length=1)

    @model_validator(mode="after")
    def _check_route_and_period(self) -> ScheduleCreate:
        if self.origin == self.destination:
            raise ValueError("origin and destination must differ")
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
