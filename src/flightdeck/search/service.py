"""Itinerary search: direct flights and one-stop connections, cached briefly.

Two indexed reads through the flights service, whatever the network: (1) every bookable flight
leaving the origin on the local date (the direct flights and the first legs), (2) every
bookable flight to the destination from one of the first legs' destinations, departing in the
window the first legs' arrivals allow. The connections are joined here, in memory, and so are
through journeys on multi-leg flights: a flight's own next leg (same number and date) makes one
itinerary with no minimum connection time, so the second read starts at the first arrival.
Itineraries the flights' SSIM traffic restrictions do not sell are left out.

Results are cached for `search_cache_seconds` under the route's tags (see
`itinerary_queries.route_cache_tags`): any change to a flight from the origin or to the
destination drops them. Seat counts in a cached answer may lag by up to that TTL where seats
are sold without an invalidation; a booking re-checks the inventory itself.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from flightdeck.flights.airports import get_airport, to_local
from flightdeck.flights.itineraries import service as itinerary_queries
from flightdeck.platform.cache import get_cache
from flightdeck.platform.clock import utcnow
from flightdeck.platform.settings import Settings
from flightdeck.search.connections import (
    ConnectionRules,
    Itinerary,
    connecting_itineraries,
    connection_window,
    direct_itineraries,
    sort_itineraries,
)
from flightdeck.search.schemas import ItineraryRead, LayoverRead, SearchQuery, SearchResults

MAX_ITINERARIES = 50
# Bump when the cached document's shape changes, so instances running other code ignore it.
_CACHE_FORMAT = "search:v1"


def _whole_minutes(duration: timedelta) -> int:
    return int(duration.total_seconds() // 60)


def _to_read(itinerary: Itinerary, passengers: int) -> ItineraryRead:
    first, last = itinerary.segments[0], itinerary.segments[-1]
    return ItineraryRead(
        segments=[segment.read for segment in itinerary.segments],
        stops=itinerary.stops,
        departure_time=to_local(first.departure_at, first.origin),
        arrival_time=to_local(last.arrival_at, last.destination),
        duration_minutes=_whole_minutes(itinerary.duration),
        layovers=[
            LayoverRead(airport=layover.airport, minutes=_whole_minutes(layover.duration))
            for layover in itinerary.layovers
        ],
        fare_per_passenger=itinerary.fare,
        total_price=itinerary.fare.times(passengers),
        seats_available=itinerary.seats_available,
    )


async def find_itineraries(
    session: AsyncSession, query: SearchQuery, rules: ConnectionRules
) -> list[Itinerary]:
    """Every itinerary of the query (unsorted): 422 `unknown_airport` for an unknown code."""
    get_airport(query.origin, "origin")
    get_airport(query.destination, "destination")
    now = utcnow()
    departures = await itinerary_queries.find_departures(
        session,
        origin=query.origin,
        day=query.date,
        cabin=query.cabin,
        passengers=query.passengers,
        now=now,
    )
    itineraries = direct_itineraries(departures, query.destination)
    first_legs = [leg for leg in departures if leg.destination != query.destination]
    window = connection_window(first_legs, rules)
    if query.max_stops == 0 or window is None:
        return _sold(itineraries)
    second_legs = await itinerary_queries.find_flights_to(
        session,
        origins=sorted({leg.destination for leg in first_legs}),
        destination=query.destination,
        # From the first arrival: a multi-leg flight's next leg needs no connection time.
        departing_from=min(leg.arrival_at for leg in first_legs),
        departing_until=window[1],
        cabin=query.cabin,
        passengers=query.passengers,
        now=now,
    )
    # A multi-leg flight's own legs are a through journey (no connection time), not a connection.
    connections = [
        itinerary
        for itinerary in connecting_itineraries(first_legs, second_legs, rules)
        if not itinerary_queries.same_flight(itinerary.segments)
    ]
    through = itinerary_queries.through_flights(first_legs, second_legs)
    return _sold(itineraries + [Itinerary(legs) for legs in through] + connections)


def _sold(itineraries: list[Itinerary]) -> list[Itinerary]:
    """The itineraries the flights' SSIM traffic restrictions allow to sell."""
    return [i for i in itineraries if itinerary_queries.journey_sold(i.segments)]


async def search_itineraries(
    session: AsyncSession, query: SearchQuery, rules: ConnectionRules
) -> SearchResults:
    """The query's best `MAX_ITINERARIES` itineraries in its sort order, uncached."""
    itineraries = sort_itineraries(await find_itineraries(session, query, rules), query.sort)
    return SearchResults(
        **query.model_dump(),
        itineraries=[_to_read(i, query.passengers) for i in itineraries[:MAX_ITINERARIES]],
    )


def _cache_base(query: SearchQuery, rules: ConnectionRules) -> str:
    fields = [
        _CACHE_FORMAT,
        query.origin,
        query.destination,
        query.date.isoformat(),
        str(query.passengers),
        query.cabin,
        str(query.max_stops),
        query.sort,
        # Instances configured differently must not share answers.
        str(int(rules.min_domestic.total_seconds())),
        str(int(rules.min_international.total_seconds())),
        str(int(rules.max_layover.total_seconds())),
    ]
    return ":".join(fields)


async def search_itineraries_json(
    session: AsyncSession, query: SearchQuery, settings: Settings
) -> bytes:
    """`search_itineraries` as a JSON document, from the cache when a fresh answer is there."""
    rules = ConnectionRules.from_settings(settings)
    get_airport(query.origin, "origin")  # an unknown code is a 422 before any cache access
    get_airport(query.destination, "destination")
    cache = get_cache()
    key = None
    if settings.search_cache_seconds > 0:
        tags = itinerary_queries.route_cache_tags(query.origin, query.destination)
        key = await cache.tagged_key(_cache_base(query, rules), tags)
    if key is not None and (cached := await cache.get(key)) is not None:
        return cached
    document = (await search_itineraries(session, query, rules)).model_dump_json().encode()
    if key is not None:
        await cache.set(key, document, settings.search_cache_seconds)
    return document
