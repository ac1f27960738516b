"""New dated flights before they are stored.

The flights and schedules services describe a new flight as a `FlightDraft`; one is stored as
an ORM row with its cabins (`build_flight`, for answers that show the flight), many at once as
plain rows (`flight_rows`, for SSIM imports of hundreds of thousands of flights, inserted
without filling the session's identity map).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from flightdeck.flights.airports import get_airport, great_circle_km
from flightdeck.flights.models import Flight, FlightCabin
from flightdeck.flights.schemas import CabinSpec
from flightdeck.platform.clock import utcnow
from flightdeck.platform.db import new_id

FlightKey = tuple[str, date, int]


@dataclass(frozen=True)
class FlightDraft:
    """A `scheduled` flight leg with nothing sold. Instants are aware; stored in UTC."""

    flight_number: str
    origin: str
    destination: str
    departure_at: datetime
    arrival_at: datetime
    service_date: date
    aircraft: str | None
    cabins: Mapping[str, CabinSpec]
    schedule_id: str | None = None
    # The flight's date (its first leg's local departure date); None: `service_date`.
    flight_date: date | None = None
    leg_sequence: int = 1
    itinerary_variation: int | None = None
    service_type: str = "J"
    traffic_restrictions: str | None = None
    operating_carrier: str | None = None
    operating_flight: str | None = None

    @property
    def key(self) -> FlightKey:
        """What is unique among flights: (flight_number, flight_date, leg_sequence)."""
        return (self.flight_number, self.flight_date or self.service_date, self.leg_sequence)


def _columns(draft: FlightDraft) -> dict[str, Any]:
    return {
        "flight_number": draft.flight_number,
        "service_date": draft.service_date,
        "flight_date": draft.flight_date or draft.service_date,
        "leg_sequence": draft.leg_sequence,
        "itinerary_variation": draft.itinerary_variation,
        "service_type": draft.service_type,
        "traffic_restrictions": draft.traffic_restrictions,
        "operating_carrier": draft.operating_carrier,
        "operating_flight": draft.operating_flight,
        "origin": draft.origin,
        "destination": draft.destination,
        "destination_country": get_airport(draft.destination).country,
        # Kept with the flight for the ASK/RPK reports (cached per airport pair).
        "distance_km": great_circle_km(draft.origin, draft.destination),
        "departure_at": draft.departure_at.astimezone(UTC),
        "arrival_at": draft.arrival_at.astimezone(UTC),
        "aircraft": draft.aircraft,
        "schedule_id": draft.schedule_id,
        "status": "scheduled",
        "delay_minutes": 0,
    }


def build_flight(draft: FlightDraft) -> Flight:
    """The draft as a new Flight with one FlightCabin per cabin, not yet in a session."""
    return Flight(
        id=new_id(),
        **_columns(draft),
        cabins=[
            FlightCabin(
                cabin=name,
                capacity=spec.seats,
                sold=0,
                fare_amount=spec.fare.amount,
                fare_currency=spec.fare.currency,
            )
            for name, spec in draft.cabins.items()
        ],
    )


def flight_rows(
    drafts: Iterable[FlightDraft],
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(flight rows, cabin rows) of the drafts, with fresh ids, for a bulk insert."""
    now = utcnow()
    flights: list[dict[str, Any]] = []
    cabins: list[dict[str, Any]] = []
    for draft in drafts:
        flight_id = new_id()
        flights.append({"id": flight_id, **_columns(draft), "created_at": now, "updated_at": now})
        cabins.extend(
            {
                "id": new_id(),
                "flight_id": flight_id,
                "cabin": name,
                "capacity": spec.seats,
                "sold": 0,
                "fare_amount": spec.fare.amount,
                "fare_currency": spec.fare.currency,
            }
            for name, spec in draft.cabins.items()
        )
    return flights, cabins
