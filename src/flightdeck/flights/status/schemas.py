"""Request and response shapes of live flight status and its history."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, Field, StringConstraints

from flightdeck.flights.airports import to_local
from flightdeck.flights.models import Flight, FlightStatusChange
from flightdeck.flights.schemas import AirportCode, FlightStatus
from flightdeck.platform.bounds import FlightInstant
from flightdeck.platform.instants import LocalInstant
from flightdeck.platform.text import SingleLineText

# Checked before upper-casing (pydantic), hence both cases: "b7" is stored as "B7".
GateCode = Annotated[
    str, StringConstraints(strip_whitespace=True, to_upper=True, pattern=r"^[A-Za-z0-9-]{1,8}$")
]

MAX_DELAY_MINUTES = 7 * 24 * 60
Remark = Annotated[SingleLineText, Field(max_length=500)]


class FlightStatusUpdate(BaseModel):
    """`PUT /flights/{id}/status`. Fields left out keep their value; `gate`/`terminal` given as
    null are cleared."""

    status: FlightStatus
    estimated_departure: FlightInstant | None = None
    estimated_arrival: FlightInstant | None = None
    actual_departure: FlightInstant | None = None
    actual_arrival: FlightInstant | None = None
    delay_minutes: int | None = Field(default=None, ge=0, le=MAX_DELAY_MINUTES)
    gate: GateCode | None = Field(default=None, examples=["B7"])
    terminal: GateCode | None = Field(default=None, examples=["4"])
    remark: Remark | None = None
    diverted_to: AirportCode | None = None


class FlightStatusRead(BaseModel):
    """Live status; departure instants in the origin's offset, arrivals in the arrival
    airport's (the diversion airport for estimated/actual arrival once diverted)."""

    flight_id: str
    flight_number: str
    origin: str
    destination: str
    status: str
    scheduled_departure: LocalInstant
    estimated_departure: LocalInstant | None
    actual_departure: LocalInstant | None
    scheduled_arrival: LocalInstant
    estimated_arrival: LocalInstant | None
    actual_arrival: LocalInstant | None
    delay_minutes: int
    gate: str | None
    terminal: str | None
    diverted_to: str | None
    remark: str | None
    updated_at: LocalInstant


class FlightStatusChangeRead(BaseModel):
    """One entry of a flight's status history."""

    id: str
    from_status: str | None
    status: str
    estimated_departure: LocalInstant | None
    actual_departure: LocalInstant | None
    estimated_arrival: LocalInstant | None
    actual_arrival: LocalInstant | None
    delay_minutes: int
    gate: str | None
    terminal: str | None
    remark: str | None
    source: str
    changed_by: str | None
    changed_at: LocalInstant


def _local(instant: datetime | None, airport: str) -> datetime | None:
    return None if instant is None else to_local(instant, airport)


def status_to_read(flight: Flight, remark: str | None) -> FlightStatusRead:
    """The flight's live status with every instant in the relevant airport's offset."""
    arrival_airport = flight.diverted_to or flight.destination
    return FlightStatusRead(
        flight_id=flight.id,
        flight_number=flight.flight_number,
        origin=flight.origin,
        destination=flight.destination,
        status=flight.status,
        scheduled_departure=to_local(flight.departure_at, flight.origin),
        estimated_departure=_local(flight.estimated_departure_at, flight.origin),
        actual_departure=_local(flight.actual_departure_at, flight.origin),
        scheduled_arrival=to_local(flight.arrival_at, flight.destination),
        estimated_arrival=_local(flight.estimated_arrival_at, arrival_airport),
        actual_arrival=_local(flight.actual_arrival_at, arrival_airport),
        delay_minutes=flight.delay_minutes,
        gate=flight.gate,
        terminal=flight.terminal,
        diverted_to=flight.diverted_to,
        remark=remark,
        updated_at=to_local(flight.status_updated_at or flight.updated_at, flight.origin),
    )


def status_change_to_read(change: FlightStatusChange, flight: Flight) -> FlightStatusChangeRead:
    arrival_airport = flight.diverted_to or flight.destination
    return FlightStatusChangeRead(
        id=change.id,
        from_status=change.from_status,
        status=change.status,
        estimated_departure=_local(change.estimated_departure_at, flight.origin),
        actual_departure=_local(change.actual_departure_at, flight.origin),
        estimated_arrival=_local(change.estimated_arrival_at, arrival_airport),
        actual_arrival=_local(change.actual_arrival_at, arrival_airport),
        delay_minutes=change.delay_minutes,
        gate=change.gate,
        terminal=change.terminal,
        remark=change.remark,
        source=change.source,
        changed_by=change.changed_by,
        changed_at=to_local(change.changed_at, flight.origin),
    )


class PunctualityRead(BaseModel):
    """How punctual a flight number has been over the last `window_days` days, from its
    status history: of the flights that arrived, were cancelled or diverted, the share that
    arrived less than 15 minutes late, and the average arrival delay of those that arrived
    (early arrivals count as 0). Both are null until a flight has been observed."""

    window_days: int = Field(examples=[30])
    flights_observed: int = Field(examples=[28])
    on_time_share: float | None = Field(examples=[0.82], description="0 to 1")
    average_delay_minutes: float | None = Field(examples=[7.5])
