"""Shapes of flights as the airline's operations and reports see them: every flight with its
load per cabin, status and delays (the admin listing)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Self

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from flightdeck.flights.schemas import AirportCode, FlightNumber, FlightStatus
from flightdeck.platform.instants import LocalInstant
from flightdeck.platform.reporting import EARLIEST_REPORT_DATE, LATEST_REPORT_DATE

ReportDate = Annotated[date, Field(ge=EARLIEST_REPORT_DATE, le=LATEST_REPORT_DATE)]
Route = Annotated[
    str,
    StringConstraints(strip_whitespace=True, to_upper=True, pattern=r"^[A-Za-z]{3}-[A-Za-z]{3}$"),
]


class FlightOperationsFilters(BaseModel):
    """Filters of the flight listing: `from`/`to` are local service dates (both included);
    `route` is `JFK-LHR` (or give `origin` and/or `destination`)."""

    model_config = ConfigDict(populate_by_name=True)

    date_from: ReportDate | None = Field(default=None, alias="from")
    date_to: ReportDate | None = Field(default=None, alias="to")
    origin: AirportCode | None = None
    destination: AirportCode | None = None
    route: Route | None = None
    status: FlightStatus | None = None
    flight_number: FlightNumber | None = None
    schedule_id: str | None = Field(default=None, max_length=36)

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.date_from and self.date_to and self.date_to < self.date_from:
            raise ValueError("to must not be before from")
        if self.route is not None:
            origin, destination = self.route.split("-")
            if (self.origin or origin) != origin or (self.destination or destination) != (
                destination
            ):
                raise ValueError("route contradicts origin or destination")
            self.origin, self.destination = origin, destination
        return self


class CabinLoadRead(BaseModel):
    cabin: str
    capacity: int
    sold: int
    load_factor: float = Field(description="sold / capacity (0 when the cabin has no seats)")


class FlightOperationsRead(BaseModel):
    id: str
    flight_number: str
    service_date: date
    origin: str
    destination: str
    departure_time: LocalInstant
    arrival_time: LocalInstant
    aircraft: str | None
    schedule_id: str | None
    status: str
    delay_minutes: int
    departure_delay_minutes: int | None = Field(description="actual minus scheduled, once known")
    arrival_delay_minutes: int | None
    distance_km: int
    capacity: int
    sold: int
    load_factor: float
    cabins: list[CabinLoadRead]
