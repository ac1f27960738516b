"""Itineraries of bookable flights (what the search statements' rows become), the connection
rules each one-stop pair is checked against (minimum connection time by country, longest
layover), and their orderings. The pairs themselves are joined in SQL
(flights/itineraries/repository.py).

Pure functions on `BookableFlight` values; all instants are UTC, so layovers across time
zones, the date line and DST changes are plain subtractions.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache

from flightdeck.flights.airports import get_airport
from flightdeck.flights.itineraries.service import BookableFlight
from flightdeck.platform.money import Money
from flightdeck.platform.settings import Settings
from flightdeck.search.schemas import SortOrder


@dataclass(frozen=True)
class ConnectionRules:
    """Minimum connection time (domestic when origin, connecting airport and destination are
    all in one country, else international) and the longest layover offered."""

    min_domestic: timedelta = timedelta(minutes=45)
    min_international: timedelta = timedelta(minutes=90)
    max_layover: timedelta = timedelta(hours=8)

    @classmethod
    def from_settings(cls, settings: Settings) -> ConnectionRules:
        """The rules of these settings (one shared instance per set of values: every search
        asks)."""
        return _rules(
            settings.min_connection_domestic_minutes,
            settings.min_connection_international_minutes,
            settings.max_layover_minutes,
        )

    @property
    def shortest_connection(self) -> timedelta:
        return min(self.min_domestic, self.min_international)

    def minimum_connection(self, *airports: str) -> timedelta:
        countries = {get_airport(code).country for code in airports}
        return self.min_domestic if len(countries) == 1 else self.min_international


@lru_cache(maxsize=16)
def _rules(domestic: int, international: int, layover: int) -> ConnectionRules:
    return ConnectionRules(
        min_domestic=timedelta(minutes=domestic),
        min_international=timedelta(minutes=international),
        max_layover=timedelta(minutes=layover),
    )


@dataclass(frozen=True)
class Layover:
    airport: str
    duration: timedelta


@dataclass(frozen=True)
class Itinerary:
    """One way from origin to destination: its flights in order."""

    segments: tuple[BookableFlight, ...]

    @property
    def departure_at(self) -> datetime:
        return self.segments[0].departure_at

    @property
    def arrival_at(self) -> datetime:
        return self.segments[-1].arrival_at

    @property
    def duration(self) -> timedelta:
        return self.arrival_at - self.departure_at

    @property
    def stops(self) -> int:
        return len(self.segments) - 1

    @property
    def seats_available(self) -> int:
        return min(segment.seats_available for segment in self.segments)

    @property
    def fare(self) -> Money:
        """The price of one passenger: the segments' fares summed."""
        total = self.segments[0].fare
        for segment in self.segments[1:]:
            total = total + segment.fare
        return total

    @property
    def layovers(self) -> list[Layover]:
        return [
            Layover(arriving.destination, leaving.departure_at - arriving.arrival_at)
            for arriving, leaving in zip(self.segments, self.segments[1:], strict=False)
        ]


def connects(first: BookableFlight, second: BookableFlight, rules: ConnectionRules) -> bool:
    """Whether `second` can follow `first`: it leaves from where `first` lands within the
    allowed layover (minimum by the three airports' countries), does not return to where
    `first` started, and is priced in the same currency."""
    if second.destination == first.origin or first.fare.currency != second.fare.currency:
        return False  # back to where it started, or fares that cannot be added up
    layover = second.departure_at - first.arrival_at
    minimum = rules.minimum_connection(first.origin, first.destination, second.destination)
    return minimum <= layover <= rules.max_layover


def _ids(itinerary: Itinerary) -> tuple[str, ...]:
    return tuple(segment.id for segment in itinerary.segments)


def sort_itineraries(itineraries: Iterable[Itinerary], order: SortOrder) -> list[Itinerary]:
    """Cheapest, shortest or earliest first; ties broken by the other two, then by flight ids
    so the order is stable. Prices compare by amount (itineraries rarely mix currencies)."""
    if order == "price":
        return sorted(
            itineraries, key=lambda i: (i.fare.amount, i.duration, i.departure_at, _ids(i))
        )
    if order == "duration":
        return sorted(
            itineraries, key=lambda i: (i.duration, i.fare.amount, i.departure_at, _ids(i))
        )
    return sorted(itineraries, key=lambda i: (i.departure_at, i.duration, i.fare.amount, _ids(i)))
