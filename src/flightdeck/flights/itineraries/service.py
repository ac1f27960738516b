"""Flights as itinerary search reads them, and the cache tags that keep searches fresh.

The search domain calls these functions (never the repository), on a read-only connection
(`platform.db.read_connection`): no ORM session, no objects tracked. They return
`BookableFlight` values: a flight with what one cabin offers, already checked to be bookable
(status, passenger service, departure in the future, enough free seats, sold by its SSIM
traffic restrictions), read with every cabin. They are the rows as the statements return
them (`LegRow`, a tuple made once per flight a read returns), not copied into another type;
`flight_documents` shows them as the API shows a flight (`FlightRead`'s JSON).

Cached searches are tagged with `search_cache_tags`: every flight of an itinerary departs from
its origin or arrives at its destination (a connection's first leg departs from the origin, its
second leg arrives at the destination). So a change to a flight invalidates
`flights-from:<its origin>` and `flights-to:<its destination>` (`invalidate_flight_searches`),
and no cached search that could contain it survives.

Seats sold or released, the change a booking load makes many times a second, invalidate less:
the same two tags of the day (UTC) the flight departs, `flights-from:<origin>:<day>` and
`flights-to:<destination>:<day>` (`invalidate_seat_searches`). A search carries the tags of
every day its flights may depart: from its origin, the days of its local date there; to its
destination, from then until `max_layover` and a day (the longest first leg) after it. A sale
at a hub no longer drops every search through it for all the days on sale. (A through
journey's next leg leaving later than that would show its old seat count until the answer's
time to live runs out: no passenger flight's legs are that far apart.)
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Any, TypeAlias

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from flightdeck.flights.airports import local_to_utc, to_local
from flightdeck.flights.itineraries import repository
from flightdeck.flights.itineraries.repository import (
    Candidates,
    ConnectionTimes,
    LegRow,
    Order,
    SearchWindow,
)
from flightdeck.platform.cache_invalidation import invalidate_tags

__all__ = ["BookableFlight", "Candidates", "ConnectionTimes", "LegRow", "Order", "SearchWindow"]

# A flight that can be booked in the searched cabin for the searched passengers: its columns,
# what that cabin offers per passenger (`fare_amount` in minor units, `fare_currency`,
# `seats_available`) and every cabin, as search read them.
BookableFlight: TypeAlias = LegRow


# How long after the end of a search's day a flight to its destination may still depart as a
# connection's second leg, beyond the longest layover: the longest first leg (no passenger
# flight is scheduled for more than a day).
_LONGEST_FIRST_LEG = timedelta(days=1)


def route_cache_tags(origin: str, destination: str) -> list[str]:
    """The cache tags of anything built from flights leaving `origin` or reaching
    `destination`, whatever the day."""
    return [f"flights-from:{origin}", f"flights-to:{destination}"]


def _departing_from_on(origin: str, utc_day: str) -> str:
    return f"flights-from:{origin}:{utc_day}"


def _reaching_on(destination: str, utc_day: str) -> str:
    return f"flights-to:{destination}:{utc_day}"


_INSTANT = timedelta(microseconds=1)


def _utc_days(start: datetime, end: datetime) -> list[str]:
    """The UTC dates of the instants in [start, end), as ISO text."""
    first, last = start.astimezone(UTC).date(), (end - _INSTANT).astimezone(UTC).date()
    return [(first + timedelta(days=n)).isoformat() for n in range((last - first).days + 1)]


@lru_cache(maxsize=4096)
def search_cache_tags(
    origin: str, destination: str, day: date, *, max_layover: timedelta
) -> tuple[str, ...]:
    """The cache tags of a search from `origin` on the local date `day` there to
    `destination`: the route's (any change to a flight leaving the origin or reaching the
    destination) and those of each day its flights may depart (seats sold or released).
    Kept by their arguments: a cached search asks on every request (working them out was
    two-thirds of its lookup, ~12 µs)."""
    start, end = departure_window(day, origin)
    return (
        *route_cache_tags(origin, destination),
        *(_departing_from_on(origin, utc_day) for utc_day in _utc_days(start, end)),
        *(
            _reaching_on(destination, utc_day)
            for utc_day in _utc_days(start, end + max_layover + _LONGEST_FIRST_LEG)
        ),
    )


def seat_cache_tags(origin: str, destination: str, departure_at: datetime) -> list[str]:
    """The cache tags seats sold or released on a flight invalidate: its route's, of the
    (UTC) day it departs."""
    utc_day = departure_at.astimezone(UTC).date().isoformat()
    return [_departing_from_on(origin, utc_day), _reaching_on(destination, utc_day)]


async def invalidate_flight_searches(
    session: AsyncSession | None, routes: Iterable[tuple[str, str]]
) -> None:
    """Cached searches that may show a flight on these (origin, destination) routes are
    dropped now and again when `session` commits. Call it wherever flights are created,
    changed, removed or change status (for seats sold or released:
    `invalidate_seat_searches`)."""
    tags = [tag for origin, destination in routes for tag in route_cache_tags(origin, destination)]
    if tags:
        await invalidate_tags(tags, session=session)


async def invalidate_seat_searches(
    session: AsyncSession | None, flights: Iterable[tuple[str, str, datetime]]
) -> None:
    """Cached searches that may show these flights, given as (origin, destination,
    departure), are dropped now and again when `session` commits: those of the days they
    depart. Call it wherever seats are sold or released."""
    tags = [tag for flight in flights for tag in seat_cache_tags(*flight)]
    if tags:
        await invalidate_tags(tags, session=session)


async def invalidate_searches_for_flights(session: AsyncSession, flight_ids: Iterable[str]) -> None:
    """`invalidate_seat_searches` for flights known by id (one query for their routes and
    departures): for seat inventory, whose sold seats change what search offers."""
    flights = await repository.departures_of(session, list(flight_ids))
    await invalidate_seat_searches(session, flights)


def departure_window(day: date, origin: str) -> tuple[datetime, datetime]:
    """The UTC instants [start, end) of the local date `day` at the origin airport."""
    return (
        local_to_utc(day, time(0), origin),
        local_to_utc(day + timedelta(days=1), time(0), origin),
    )


def search_window(
    *, origin: str, destination: str, day: date, cabin: str, passengers: int, now: datetime
) -> SearchWindow:
    """Flights leaving `origin` on the local date `day` there, after `now`, with
    `passengers` free seats in `cabin`, on the way to `destination`."""
    start, end = departure_window(day, origin)
    # "After now" as an inclusive bound: stored instants have microseconds at most.
    departing_from = max(start, now + timedelta(microseconds=1))
    return SearchWindow(origin, destination, departing_from, end, cabin, passengers)


async def find_direct_flights(
    conn: AsyncConnection, window: SearchWindow, order: Order, *, limit: int
) -> list[BookableFlight]:
    """The best `limit` bookable flights from the window's origin to its destination, in
    `order` (ties by flight id)."""
    return await repository.direct_flights(conn, window, order, limit=limit)


async def find_candidates(
    conn: AsyncConnection,
    window: SearchWindow,
    order: Order,
    *,
    times: ConnectionTimes,
    limit: int,
) -> Candidates:
    """A one-stop search's candidates, read in one statement: `find_direct_flights`; the
    best `limit` pairs of bookable flights origin → X → destination where the second leaves X
    within `times` after the first lands (the domestic minimum at an airport of
    `times.home_country`, else the international one), fares in one currency; and the best
    `limit` through journeys on one multi-leg flight (a leg
    from the window's origin and the same flight's (number and date) next leg to its
    destination, with no minimum connection time between them, both bookable, sold by their
    SSIM traffic restrictions), each kind's best `limit` by `order`, the lists themselves in
    no particular order (a flight in several rows is one value)."""
    return await repository.candidates(conn, window, order, times=times, limit=limit)


def _money(amount: int, currency: str) -> dict[str, Any]:
    return {"amount": amount, "currency": currency}


def flight_document(row: LegRow) -> dict[str, Any]:
    """The flight as `GET /flights/{id}` shows it (`FlightRead` as JSON): times in each
    airport's local offset, every cabin with live availability."""
    cabin_documents = {
        c.cabin: {
            "seats": c.capacity,
            "sold": c.sold,
            "seats_available": c.capacity - c.sold,
            "fare": _money(c.fare_amount, c.fare_currency),
        }
        for c in row.cabins
    }
    return {
        "id": row.id,
        "flight_number": row.flight_number,
        "origin": row.origin,
        "destination": row.destination,
        "departure_time": to_local(row.departure_at, row.origin).isoformat(),
        "arrival_time": to_local(row.arrival_at, row.destination).isoformat(),
        "service_date": row.service_date.isoformat(),
        "duration_minutes": int((row.arrival_at - row.departure_at).total_seconds() // 60),
        "aircraft": row.aircraft,
        "status": row.status,
        "schedule_id": row.schedule_id,
        "cabins": cabin_documents,
        "seats_available": {name: c["seats_available"] for name, c in cabin_documents.items()},
        "flight_date": row.flight_date.isoformat(),
        "leg_sequence": row.leg_sequence,
        "itinerary_variation": row.itinerary_variation,
        "service_type": row.service_type,
        "traffic_restrictions": row.traffic_restrictions,
        "operating_carrier": row.operating_carrier,
        "operating_flight": row.operating_flight,
    }


def flight_documents(flights: Iterable[BookableFlight]) -> dict[str, dict[str, Any]]:
    """`flight_document` of each flight, by id."""
    return {flight.id: flight_document(flight) for flight in flights}
