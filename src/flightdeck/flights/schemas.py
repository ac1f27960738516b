"""Request and response shapes of flights (schedules and status have their own modules)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Annotated, Literal

from pydantic import BaseModel, Field, StringConstraints, model_validator

from flightdeck.flights.airports import Airport, to_local
from flightdeck.flights.models import Flight
from flightdeck.platform.bounds import FlightDate, FlightInstant
from flightdeck.platform.instants import LocalInstant
from flightdeck.platform.money import Fare, Money
from flightdeck.platform.text import SingleLineText

# Patterns are checked before upper-casing (pydantic), so they accept either case.
FlightNumber = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True,
        to_upper=True,
        pattern=r"^([A-Za-z]{2,3}|[A-Za-z]\d|\d[A-Za-z])\d{1,4}[A-Za-z]?$",
    ),
]
AirlineDesignator = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, to_upper=True, pattern=r"^([A-Za-z]{2,3}|[A-Za-z]\d|\d[A-Za-z])$"
    ),
]
AirportCode = Annotated[
    str, StringConstraints(strip_whitespace=True, to_upper=True, pattern=r"^[A-Za-z]{3}$")
]
CabinName = Annotated[str, StringConstraints(pattern=r"^(economy|premium_economy|business|first)$")]
AircraftType = Annotated[SingleLineText, Field(max_length=16, examples=["B789"])]

# The longest flights scheduled today (Singapore-New York) take about 19 hours, and Qantas'
# planned Sydney-London nonstop about 22: no airliner carries passengers longer than that, so
# a longer block time is a typing error (a wrong day or offset), not a flight.
MAX_BLOCK_TIME = timedelta(hours=22)


def block_time_problem(departure: datetime, arrival: datetime) -> str | None:
    """Why these times cannot be one flight's, or None."""
    if arrival <= departure:
        return "arrival_time must be after departure_time"
    if arrival - departure > MAX_BLOCK_TIME:
        hours = MAX_BLOCK_TIME.total_seconds() / 3600
        return f"the flight would last more than {hours:g} hours, longer than any airliner flies"
    return None


class CabinSpec(BaseModel):
    seats: int = Field(ge=0, le=1000)
    fare: Fare


class FlightCreate(BaseModel):
    flight_number: FlightNumber = Field(examples=["FD101"])
    origin: AirportCode = Field(examples=["JFK"])
    destination: AirportCode = Field(examples=["LHR"])
    departure_time: FlightInstant
    arrival_time: FlightInstant
    aircraft: AircraftType | None = None
    cabins: dict[CabinName, CabinSpec] = Field(min_length=1)

    @model_validator(mode="after")
    def _check_route_and_times(self) -> FlightCreate:
        if self.origin == self.destination:
            raise ValueError("origin and destination must differ")
        problem = block_time_problem(self.departure_time, self.arrival_time)
        if problem is not None:
            raise ValueError(problem)
        return self


class FlightUpdate(BaseModel):
    """Every field optional; cabins given are replaced (never below seats already sold)."""

    departure_time: FlightInstant | None = None
    arrival_time: FlightInstant | None = None
    aircraft: AircraftType | None = None
    cabins: dict[CabinName, CabinSpec] | None = Field(default=None, min_length=1)


FlightStatus = Literal[
    "scheduled", "on_time", "delayed", "boarding", "departed", "arrived", "cancelled", "diverted"
]


class FlightFilters(BaseModel):
    """Query filters of `GET /flights`; `date` is the local date at the origin (service date)."""

    origin: AirportCode | None = None
    destination: AirportCode | None = None
    date: FlightDate | None = None
    status: FlightStatus | None = None
    flight_number: FlightNumber | None = None


class AirportRead(BaseModel):
    iata: str
    icao: str
    name: str
    city: str
    country: str
    timezone: str

    @classmethod
    def from_airport(cls, airport: Airport) -> AirportRead:
        return cls(
            iata=airport.iata,
            icao=airport.icao,
            name=airport.name,
            city=airport.city,
            country=airport.country,
            timezone=airport.timezone,
        )


class CabinRead(BaseModel):
    seats: int
    sold: int
    seats_available: int
    fare: Money


class FlightRead(BaseModel):
    id: str
    flight_number: str
    origin: str
    destination: str
    departure_time: LocalInstant
    arrival_time: LocalInstant
    service_date: date
    duration_minutes: int
    aircraft: str | None
    status: str
    schedule_id: str | None
    cabins: dict[str, CabinRead]
    seats_available: dict[str, int]
    flight_date: date = Field(description="The flight's date: its first leg's departure date")
    leg_sequence: int = Field(description="Leg of a multi-leg flight (1 for a single leg)")
    itinerary_variation: int | None
    service_type: str = Field(description="IATA service type; J: scheduled passenger")
    traffic_restrictions: str | None = Field(
        description="SSIM traffic restriction codes, position 1 for this leg alone"
    )
    operating_carrier: str | None = Field(description="Operating airline of a codeshare leg")
    operating_flight: str | None


def flight_to_read(flight: Flight) -> FlightRead:
    """Times in each airport's local offset; cabins with live availability."""
    cabins = {
        c.cabin: CabinRead(
            seats=c.capacity,
            sold=c.sold,
            seats_available=c.capacity - c.sold,
            fare=Money(amount=c.fare_amount, currency=c.fare_currency),
        )
        for c in flight.cabins
    }
    return FlightRead(
        id=flight.id,
        flight_number=flight.flight_number,
        origin=flight.origin,
        destination=flight.destination,
        departure_time=to_local(flight.departure_at, flight.origin),
        arrival_time=to_local(flight.arrival_at, flight.destination),
        service_date=flight.service_date,
        duration_minutes=int((flight.arrival_at - flight.departure_at).total_seconds() // 60),
        aircraft=flight.aircraft,
        status=flight.status,
        schedule_id=flight.schedule_id,
        cabins=cabins,
        seats_available={name: cabin.seats_available for name, cabin in cabins.items()},
        flight_date=flight.flight_date,
        leg_sequence=flight.leg_sequence,
        itinerary_variation=flight.itinerary_variation,
        service_type=flight.service_type,
        traffic_restrictions=flight.traffic_restrictions,
        operating_carrier=flight.operating_carrier,
        operating_flight=flight.operating_flight,
    )


class FlightCancelled(BaseModel):
    """`DELETE /flights/{id}` when seats were sold: the flight is cancelled, not removed."""

    status: Literal["cancelled"] = "cancelled"
    flight: FlightRead
    affected_bookings: int
