"""Itinerary search: direct flights, one-stop connections and through flights, cached.

A cached answer is served without touching the database (no connection, no transaction).
Otherwise, on one read-only connection (for a direct-only search on SQLite, the one its brief
reads share: platform/brief_reads.py; otherwise one of those search keeps:
platform/kept_reads.py) and a fixed number of indexed queries whatever the network's size:

1. each kind of candidate gives its best `MAX_ITINERARIES` itineraries with every cabin of
   their flights, ranked and limited in SQL (direct flights; one-stop connections joined in
   SQL on the connection window; through journeys on one multi-leg flight, its consecutive
   legs with no connection time), all three in one statement, so the work done here follows
   the size of the answer, not of the airports;
2. their flight numbers' punctuality (from its own cache; one query for those missing).

The answer is a JSON document built here and cached under the route's tags and its days'
(`itinerary_queries.search_cache_tags`): any change to a flight from the origin or to the
destination drops it, and seats sold or released on one departing the days it may show. It
lives `search_cache_seconds`, and never past its first departure (`cache_seconds`). A booking
re-checks the inventory itself.
"""

from __future__ import annotations

from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import orjson
from sqlalchemy.ext.asyncio import AsyncConnection

from flightdeck.flights.airports import find_airport, get_airport
from flightdeck.flights.itineraries import service as itinerary_queries
from flightdeck.flights.itineraries.service import ConnectionTimes
from flightdeck.flights.status import service as status_service
from flightdeck.platform.cache import get_cache
from flightdeck.platform.clock import utcnow
from flightdeck.platform.replica import ReadDatabase
from flightdeck.platform.settings import Settings
from flightdeck.search.connections import (
    ConnectionRules,
    Itinerary,
    connects,
    sort_itineraries,
)
from flightdeck.search.schemas import SearchQuery

MAX_ITINERARIES = 50
# Bump when the cached document's shape changes, so instances running other code ignore it.
_CACHE_FORMAT = "search:v3"


@dataclass(frozen=True)
class CachedSearch:
    """What the cache had for one query: its key (None with the cache off) and the answer."""

    key: str | None
    document: bytes | None


def _connection_times(query: SearchQuery, rules: ConnectionRules) -> ConnectionTimes:
    """The rules as SQL applies them to this search's connections: a connection is domestic
    only where origin, connecting airport and destination share a country, so only when
    origin and destination do (their country is then the `home_country`)."""
    origin = get_airport(query.origin).country
    home = origin if origin == get_airport(query.destination).country else None
    return ConnectionTimes(
        home_country=home,
        min_domestic=rules.min_domestic,
        min_international=rules.min_international,
        max_layover=rules.max_layover,
    )


async def find_itineraries(
    conn: AsyncConnection, query: SearchQuery, rules: ConnectionRules
) -> list[Itinerary]:
    """The query's best `MAX_ITINERARIES` itineraries in its sort order: 422
    `unknown_airport` for an unknown code. Direct flights only: one statement; with one
    stop, direct flights, connections and through flights in one statement too
    (`find_candidates`), each kind's best `MAX_ITINERARIES`."""
    get_airport(query.origin, "origin")
    get_airport(query.destination, "destination")
    window = itinerary_queries.search_window(
        origin=query.origin,
        destination=query.destination,
        day=query.date,
        cabin=query.cabin,
        passengers=query.passengers,
        now=utcnow(),
    )
    limit = MAX_ITINERARIES
    if query.max_stops < 1:
        direct = await itinerary_queries.find_direct_flights(conn, window, query.sort, limit=limit)
        return sort_itineraries([Itinerary((flight,)) for flight in direct], query.sort)
    found = await itinerary_queries.find_candidates(
        conn, window, query.sort, times=_connection_times(query, rules), limit=limit
    )
    # SQL applied the same rules: `connects` drops nothing it ranked (tests/search check so).
    connections = [Itinerary(pair) for pair in found.connections if connects(*pair, rules)]
    itineraries = [
        *(Itinerary((flight,)) for flight in found.direct),
        *connections,
        *(Itinerary(pair) for pair in found.through),
    ]
    return sort_itineraries(itineraries, query.sort)[:limit]


def _minutes(duration: timedelta) -> int:
    return int(duration.total_seconds() // 60)


def _money(amount: int, currency: str) -> dict[str, Any]:
    return {"amount": amount, "currency": currency}


def _itinerary_document(
    itinerary: Itinerary, passengers: int, segments: dict[str, dict[str, Any]]
) -> dict[str, Any]:
    """`ItineraryRead` as JSON, with its flights' documents (`segments`, by id): it leaves
    and lands at its first and last flight's local times, written there already."""
    flights = [segments[segment.id] for segment in itinerary.segments]
    fare, currency = itinerary.fare_amount, itinerary.segments[0].fare_currency
    return {
        "segments": flights,
        "stops": itinerary.stops,
        "departure_time": flights[0]["departure_time"],
        "arrival_time": flights[-1]["arrival_time"],
        "duration_minutes": _minutes(itinerary.duration),
        "layovers": [
            {"airport": layover.airport, "minutes": _minutes(layover.duration)}
            for layover in itinerary.layovers
        ],
        "fare_per_passenger": _money(fare, currency),
        "total_price": _money(fare * passengers, currency),
        "seats_available": itinerary.seats_available,
    }


async def search_document(
    reads: ReadDatabase, query: SearchQuery, settings: Settings
) -> dict[str, Any]:
    """`SearchResults` as JSON, uncached: the itineraries, their flights as the API shows
    them, each with its flight number's punctuality. On one read connection (one of those
    search keeps: `connect(kept=True)`); a direct-only search on SQLite reads its one brief
    statement on the connection brief reads share (`ReadDatabase.brief_connection`), and a
    kept one only for the punctuality the cache lacks."""
    rules = ConnectionRules.from_settings(settings)
    shared = await reads.brief_connection() if query.max_stops < 1 else None
    if shared is None:
        async with reads.connect(kept=True) as conn:
            itineraries = await find_itineraries(conn, query, rules)
            return await _document(query, itineraries, settings, reads, conn)
    return await _document(query, await find_itineraries(shared, query, rules), settings, reads)


async def _document(
    query: SearchQuery,
    itineraries: list[Itinerary],
    settings: Settings,
    reads: ReadDatabase,
    conn: AsyncConnection | None = None,
) -> dict[str, Any]:
    """`search_document`'s answer for these itineraries: the punctuality the cache lacks is
    read on `conn`, or on a kept connection of `reads`."""
    flights = {segment.id: segment for i in itineraries for segment in i.segments}
    segments: dict[str, dict[str, Any]] = {}
    if flights:
        segments = itinerary_queries.flight_documents(flights.values())
        numbers = [flight.flight_number for flight in flights.values()]
        punctuality, missing = await status_service.cached_punctuality(numbers)
        if missing:
            seconds = settings.punctuality_cache_seconds
            async with AsyncExitStack() as stack:
                reader = conn
                if reader is None:
                    reader = await stack.enter_async_context(reads.connect(kept=True))
                punctuality |= await status_service.computed_punctuality(
                    reader, missing, cache_seconds=seconds
                )
        for flight_id, document in segments.items():
            document["punctuality"] = punctuality[flights[flight_id].flight_number]
    return {
        **query.model_dump(mode="json"),
        "itineraries": [_itinerary_document(i, query.passengers, segments) for i in itineraries],
    }


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


async def _cache_key(query: SearchQuery, settings: Settings) -> str | None:
    """The query's cache key under the route's current tag versions; None with the cache off."""
    if settings.search_cache_seconds <= 0:
        return None
    rules = ConnectionRules.from_settings(settings)
    tags = itinerary_queries.search_cache_tags(
        query.origin, query.destination, query.date, max_layover=rules.max_layover
    )
    return await get_cache().tagged_key(_cache_base(query, rules), tags)


async def cached_search_json(query: SearchQuery, settings: Settings) -> CachedSearch:
    """The cached answer to `query` if a fresh one is there (its document), with the key it
    was looked up under (None with the cache off). Nothing for an unknown airport: the route
    answers the 422."""
    if find_airport(query.origin) is None or find_airport(query.destination) is None:
        return CachedSearch(key=None, document=None)
    key = await _cache_key(query, settings)
    document = None if key is None else await get_cache().get(key)
    return CachedSearch(key=key, document=document)


async def search_itineraries_json(
    reads: ReadDatabase,
    query: SearchQuery,
    settings: Settings,
    looked_up: CachedSearch | None = None,
) -> bytes:
    """The search's JSON document, from the cache when a fresh answer is there (then
    without a database connection), else read from the replica (the primary while the replica
    cannot serve). `looked_up`: the cache was read for this request already (by the edge,
    search/edge.py) and had nothing; it is not read again."""
    get_airport(query.origin, "origin")  # an unknown code is a 422 before any cache access
    get_airport(query.destination, "destination")
    if looked_up is None:
        looked_up = await cached_search_json(query, settings)
    if looked_up.document is not None:
        return looked_up.document
    answer = await search_document(reads, query, settings)
    document = orjson.dumps(answer)
    if looked_up.key is not None and (seconds := cache_seconds(answer, settings, utcnow())) > 0:
        await get_cache().set(looked_up.key, document, seconds)
    return document


def cache_seconds(answer: dict[str, Any], settings: Settings, now: datetime) -> float:
    """How long an answer may be served from the cache: `search_cache_seconds`, and not past
    its first departure (a flight that has left is no longer offered; every other change to
    what it shows drops it through the route's tags)."""
    departures = [datetime.fromisoformat(i["departure_time"]) for i in answer["itineraries"]]
    if not departures:
        return settings.search_cache_seconds
    return min(settings.search_cache_seconds, (min(departures) - now).total_seconds())
