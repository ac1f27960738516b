"""Request and response shapes of itinerary search."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, Field, model_validator

from flightdeck.flights.schemas import AirportCode, FlightRead
from flightdeck.flights.status.schemas import PunctualityRead
from flightdeck.platform.bounds import FlightDate
from flightdeck.platform.instants import LocalInstant
from flightdeck.platform.money import Money

Cabin = Literal["economy", "premium_economy", "business", "first"]
SortOrder = Literal["price", "duration", "departure"]


class SearchQuery(BaseModel):
    """`GET /search` parameters; `date` is the local date at the origin."""

    origin: AirportCode = Field(examples=["JFK"])
    destination: AirportCode = Field(examples=["SFO"])
    date: FlightDate = Field(
        description="Local date of departure at the origin, within two years of today"
    )
    passengers: int = Field(default=1, ge=1, le=9)
    cabin: Cabin = "economy"
    max_stops: int = Field(default=1, ge=0, le=1)
    sort: SortOrder = "price"

    @model_validator(mode="after")
    def _check_route(self) -> SearchQuery:
        if self.origin == self.destination:
            raise ValueError("origin and destination must differ")
        return self


class LayoverRead(BaseModel):
    airport: str
    minutes: int


class SegmentRead(FlightRead):
    """A flight of an itinerary, with how punctual its flight number has been."""

    punctuality: PunctualityRead


class ItineraryRead(BaseModel):
    segments: list[SegmentRead]
    stops: int
    departure_time: LocalInstant = Field(description="At the origin, in its local offset")
    arrival_time: LocalInstant = Field(description="At the destination, in its local offset")
    duration_minutes: int
    layovers: list[LayoverRead]
    fare_per_passenger: Money
    total_price: Money = Field(description="For all the passengers")
    seats_available: int = Field(description="Free seats in the cabin on every segment")


class SearchResults(BaseModel):
    origin: str
    destination: str
    date: dt.date
    passengers: int
    cabin: str
    max_stops: int
    sort: str
    itineraries: list[ItineraryRead]
