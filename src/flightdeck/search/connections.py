"""Itineraries of bookable flights (what the search statements' rows become), the connection
rules each one-stop pair is checked against (minimum connection time by country, longest
layover), and their orderings. The pairs themselves are joined in SQL
(flights/itineraries/repository.py).

Pure functions on `BookableFlight` values; all instants are UTC, so layovers across time
zones, the date line and DST changes are plain subtractions.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from flightdeck.flights.airports import get_airport
from flightdeck.flights.itineraries.service import BookableFlight
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

    def minimum_connection(self, *airports: str) -> timedelta:
        return self.min_domestic if _one_country(airports) else self.min_international


@lru_cache(maxsize=4096)
def _one_country(airports: tuple[str, ...]) -> bool:
    """Whether the airports are all in one country (kept by codes: `connects` asks for every
    pair of a page, and a page repeats its airports)."""
    return len({get_airport(code).country for code in airports}) == 1


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
    def fare_amount(self) -> int:
        """The price of one passenger, in minor units of the first segment's currency (the
        segments of an itinerary share one: `connects`): their fares summed."""
        return sum([segment.fare_amount for segment in self.segments])

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
    if second.destination == first.origin or first.fare_currency != second.fare_currency:
        return False  # back to where it started, or fares that cannot be added up
    layover = second.departure_at - first.arrival_at
    minimum = rules.minimum_connection(first.origin, first.destination, second.destination)
    return minimum <= layover <= rules.max_layover


_SortFields = tuple[int, timedelta, datetime, tuple[str, ...]]


def _price_first(itinerary: Itinerary) -> _SortFields:
    """Fare amount, duration, departure and flight ids, each read once per candidate: a search
    sorts up to three pages of them, and a `Money` built per key was half the sort."""
    segments = itinerary.segments
    departure = segments[0].departure_at
    return (
        sum([segment.fare_amount for segment in segments]),
        segments[-1].arrival_at - departure,
        departure,
        tuple([segment.id for segment in segments]),
    )


def _duration_first(itinerary: Itinerary) -> tuple[timedelta, int, datetime, tuple[str, ...]]:
    amount, duration, departure, ids = _price_first(itinerary)
    return duration, amount, departure, ids


def _departure_first(itinerary: Itinerary) -> tuple[datetime, timedelta, int, tuple[str, ...]]:
    amount, duration, departure, ids = _price_first(itinerary)
    return departure, duration, amount, ids


_SORT_KEYS: dict[str, Callable[[Itinerary], tuple[Any, ...]]] = {
    "price": _price_first,
    "duration": _duration_first,
    "departure": _departure_first,
}


def sort_itineraries(itineraries: Iterable[Itinerary], order: SortOrder) -> list[Itinerary]:
    """Cheapest, shortest or earliest first; ties broken by the other two, then by flight ids
    so the order is stable. Prices compare by amount (itineraries rarely mix currencies)."""
    return sorted(itineraries, key=_SORT_KEYS[order])
