"""The SQL of itinerary search: bookable flights by departure window, on the indexes
(origin, departure_at) and (destination, departure_at). Cabins come in one extra (selectin)
query per statement."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from flightdeck.flights.models import SOLD_SERVICE_TYPES, Flight, FlightCabin

# Flights in these states take no bookings, so search never offers them.
UNSEARCHABLE_STATUSES = ("cancelled", "departed", "arrived", "diverted")
# Bound parameters per IN (...) list: far below SQLite's and asyncpg's limits.
_IN_CHUNK = 500


@dataclass(frozen=True)
class SeatsWanted:
    """What every returned flight must offer: `passengers` free seats in `cabin`, departing
    strictly after `now`."""

    cabin: str
    passengers: int
    now: datetime


def _bookable(wanted: SeatsWanted) -> list[ColumnElement[bool]]:
    enough_seats = exists().where(
        FlightCabin.flight_id == Flight.id,
        FlightCabin.cabin == wanted.cabin,
        FlightCabin.capacity - FlightCabin.sold >= wanted.passengers,
    )
    return [
        Flight.status.not_in(UNSEARCHABLE_STATUSES),
        Flight.service_type.in_(SOLD_SERVICE_TYPES),
        Flight.departure_at > wanted.now,
        enough_seats,
    ]


async def departures(
    session: AsyncSession,
    origin: str,
    departing_from: datetime,
    departing_before: datetime,
    wanted: SeatsWanted,
    *,
    limit: int,
) -> list[Flight]:
    """Bookable flights from `origin` departing in [departing_from, departing_before), by
    departure (index on origin, departure_at)."""
    statement = (
        select(Flight)
        .where(
            Flight.origin == origin,
            Flight.departure_at >= departing_from,
            Flight.departure_at < departing_before,
            *_bookable(wanted),
        )
        .order_by(Flight.departure_at, Flight.id)
        .limit(limit)
    )
    return list(await session.scalars(statement))


async def arrivals_from(
    session: AsyncSession,
    origins: Sequence[str],
    destination: str,
    departing_from: datetime,
    departing_until: datetime,
    wanted: SeatsWanted,
    *,
    limit: int,
) -> list[Flight]:
    """Bookable flights from any of `origins` to `destination` departing in [departing_from,
    departing_until], by departure (index on destination, departure_at)."""
    flights: list[Flight] = []
    codes = sorted(set(origins))
    for start in range(0, len(codes), _IN_CHUNK):
        statement = (
            select(Flight)
            .where(
                Flight.destination == destination,
                Flight.departure_at >= departing_from,
                Flight.departure_at <= departing_until,
                Flight.origin.in_(codes[start : start + _IN_CHUNK]),
                *_bookable(wanted),
            )
            .order_by(Flight.departure_at, Flight.id)
            .limit(limit - len(flights))
        )
        flights.extend(await session.scalars(statement))
        if len(flights) >= limit:
            break
    flights.sort(key=lambda flight: (flight.departure_at, flight.id))
    return flights


async def routes_of(session: AsyncSession, flight_ids: Sequence[str]) -> set[tuple[str, str]]:
    """The (origin, destination) of these flights (unknown ids are left out)."""
    routes: set[tuple[str, str]] = set()
    ids = sorted(set(flight_ids))
    for start in range(0, len(ids), _IN_CHUNK):
        rows = await session.execute(
            select(Flight.origin, Flight.destination).where(
                Flight.id.in_(ids[start : start + _IN_CHUNK])
            )
        )
        routes.update((origin, destination) for origin, destination in rows)
    return routes
