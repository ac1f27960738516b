"""Flights as itinerary search reads them, and the cache tags that keep searches fresh.

The search domain calls these functions (never the repository). They return `BookableFlight`
values: a flight with what one cabin offers, already checked to be bookable (status, departure
in the future, enough free seats), and the flight as the API shows it.

Cached searches are tagged with `route_cache_tags(origin, destination)`: every flight of an
itinerary departs from its origin or arrives at its destination (a connection's first leg
departs from the origin, its second leg arrives at the destination). So a change to a flight
invalidates `flights-from:<its origin>` and `flights-to:<its destination>`
(`invalidate_flight_searches`), and no cached search that could contain it survives.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from flightdeck.flights.airports import local_to_utc
from flightdeck.flights.inventory import traffic
from flightdeck.flights.itineraries import repository
from flightdeck.flights.models import Flight
from flightdeck.flights.schemas import FlightRead, flight_to_read
from flightdeck.platform.cache import invalidate_tags
from flightdeck.platform.money import Money

# Safety bounds on one search's reads (far above any real day at one airport).
MAX_DEPARTURES = 2000
MAX_CONNECTING_FLIGHTS = 5000


@dataclass(frozen=True)
class BookableFlight:
    """A flight that can be booked in the searched cabin for the searched passengers."""

    id: str
    flight_number: str
    origin: str
    destination: str
    departure_at: datetime  # UTC
    arrival_at: datetime  # UTC
    fare: Money  # per passenger, in the searched cabin
    seats_available: int  # in the searched cabin
    read: FlightRead  # the whole flight as the API shows it (local times, every cabin)
    # A leg of a multi-leg flight: the flight's date, its place, and its SSIM traffic
    # restriction codes (see `journey_sold`).
    flight_date: date | None = None
    leg_sequence: int = 1
    traffic_restrictions: str | None = None


def route_cache_tags(origin: str, destination: str) -> list[str]:
    """The cache tags of anything built from flights leaving `origin` or reaching
    `destination` (a search from origin to destination)."""
    return [f"flights-from:{origin}", f"flights-to:{destination}"]


async def invalidate_flight_searches(
    session: AsyncSession | None, routes: Iterable[tuple[str, str]]
) -> None:
    """Cached searches that may show a flight on these (origin, destination) routes are
    dropped now and again when `session` commits. Call it wherever flights are created,
    changed, removed, change status or sell or release seats."""
    tags = [tag for origin, destination in routes for tag in route_cache_tags(origin, destination)]
    if tags:
        await invalidate_tags(tags, session=session)


async def invalidate_searches_for_flights(session: AsyncSession, flight_ids: Iterable[str]) -> None:
    """`invalidate_flight_searches` for flights known by id (one query for their routes): for
    seat inventory, whose sold seats change what search offers."""
    routes = await repository.routes_of(session, list(flight_ids))
    await invalidate_flight_searches(session, routes)


def departure_window(day: date, origin: str) -> tuple[datetime, datetime]:
    """The UTC instants [start, end) of the local date `day` at the origin airport."""
    return (
        local_to_utc(day, time(0), origin),
        local_to_utc(day + timedelta(days=1), time(0), origin),
    )


def _bookable(flight: Flight, cabin: str) -> BookableFlight:
    offered = next(c for c in flight.cabins if c.cabin == cabin)  # the query checked it exists
    return BookableFlight(
        id=flight.id,
        flight_number=flight.flight_number,
        origin=flight.origin,
        destination=flight.destination,
        departure_at=flight.departure_at,
        arrival_at=flight.arrival_at,
        fare=Money(amount=offered.fare_amount, currency=offered.fare_currency),
        seats_available=offered.capacity - offered.sold,
        read=flight_to_read(flight),
        flight_date=flight.flight_date,
        leg_sequence=flight.leg_sequence,
        traffic_restrictions=flight.traffic_restrictions,
    )


async def find_departures(
    session: AsyncSession, *, origin: str, day: date, cabin: str, passengers: int, now: datetime
) -> list[BookableFlight]:
    """Bookable flights departing from `origin` on the local date `day` there (any
    destination), by departure."""
    start, end = departure_window(day, origin)
    wanted = repository.SeatsWanted(cabin=cabin, passengers=passengers, now=now)
    flights = await repository.departures(session, origin, start, end, wanted, limit=MAX_DEPARTURES)
    return [_bookable(flight, cabin) for flight in flights]


async def find_flights_to(
    session: AsyncSession,
    *,
    origins: Sequence[str],
    destination: str,
    departing_from: datetime,
    departing_until: datetime,
    cabin: str,
    passengers: int,
    now: datetime,
) -> list[BookableFlight]:
    """Bookable flights from any of `origins` to `destination` departing in [departing_from,
    departing_until], by departure."""
    if not origins:
        return []
    wanted = repository.SeatsWanted(cabin=cabin, passengers=passengers, now=now)
    flights = await repository.arrivals_from(
        session,
        origins,
        destination,
        departing_from,
        departing_until,
        wanted,
        limit=MAX_CONNECTING_FLIGHTS,
    )
    return [_bookable(flight, cabin) for flight in flights]


# --- through journeys on one flight (multi-leg flights) -----------------------------------


def through_flights(
    departing: Iterable[BookableFlight], arriving: Iterable[BookableFlight]
) -> list[tuple[BookableFlight, BookableFlight]]:
    """Through journeys on one multi-leg flight: a leg of `departing` and the same flight's
    (number and date) next leg, when it is among `arriving`. No connection time applies
    between a flight's own legs; journeys its traffic restrictions do not sell are left out."""
    next_legs: dict[tuple[str, date | None, int], BookableFlight] = {
        (leg.flight_number, leg.flight_date, leg.leg_sequence): leg
        for leg in arriving
        if leg.flight_date is not None
    }
    journeys = []
    for first in departing:
        second = next_legs.get((first.flight_number, first.flight_date, first.leg_sequence + 1))
        if (
            second is not None
            and second.origin == first.destination
            and second.departure_at >= first.arrival_at
            and journey_sold((first, second))
        ):
            journeys.append((first, second))
    return journeys


def journey_sold(legs: Sequence[BookableFlight]) -> bool:
    """Whether the flights' SSIM traffic restrictions sell this journey (legs in travel
    order; consecutive legs of one flight are flown through as one segment)."""
    segments = traffic.segments(legs)
    return all(traffic.restriction_problem(s, len(segments)) is None for s in segments)


def same_flight(legs: Sequence[BookableFlight]) -> bool:
    """Whether every leg belongs to one flight (a through journey, not a connection)."""
    return len({(leg.flight_number, leg.flight_date) for leg in legs}) == 1
