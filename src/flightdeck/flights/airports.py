"""IATA airports from the `airportsdata` package, with their IANA time zones."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime, time
from functools import lru_cache
from zoneinfo import ZoneInfo

import airportsdata

from flightdeck.flights.errors import UnknownAirport

# Mean Earth radius (IUGG), the usual sphere for great-circle route distances.
EARTH_RADIUS_KM = 6371.0088


@dataclass(frozen=True)
class Airport:
    iata: str
    icao: str
    name: str
    city: str
    country: str
    timezone: str
    latitude: float
    longitude: float

    @property
    def zone(self) -> ZoneInfo:
        return _zone(self.timezone)


@lru_cache(maxsize=512)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


@lru_cache(maxsize=1)
def _airports() -> dict[str, Airport]:
    raw = airportsdata.load("IATA")
    return {
        code: Airport(
            iata=code,
            icao=row.get("icao", ""),
            name=row.get("name", ""),
            city=row.get("city", ""),
            country=row.get("country", ""),
            timezone=row["tz"],
            latitude=float(row.get("lat", 0.0)),
            longitude=float(row.get("lon", 0.0)),
        )
        for code, row in raw.items()
        if row.get("tz")
    }


def find_airport(code: str) -> Airport | None:
    return _airports().get(code.upper())


def get_airport(code: str, field: str = "airport") -> Airport:
    """The airport with this IATA code, or a 422 `unknown_airport`."""
    airport = find_airport(code)
    if airport is None:
        raise UnknownAirport(code, field)
    return airport


def search_airports(query: str | None, limit: int = 20) -> list[Airport]:
    """Exact IATA code first, then prefix matches on code, city and name."""
    airports = _airports()
    if not query:
        return sorted(airports.values(), key=lambda a: a.iata)[:limit]
    q = query.strip().lower()
    exact = [airports[q.upper()]] if q.upper() in airports else []
    rest = [
        a
        for a in airports.values()
        if a not in exact
        and (a.iata.lower().startswith(q) or q in a.city.lower() or q in a.name.lower())
    ]
    rest.sort(key=lambda a: (not a.city.lower().startswith(q), a.city, a.iata))
    return (exact + rest)[:limit]


@lru_cache(maxsize=1024)
def airport_zone(airport_code: str) -> ZoneInfo:
    """The airport's time zone (UnknownAirport, a 422, for a code that is none). Kept by
    code: a search shows each of its flights' times in two zones."""
    return get_airport(airport_code).zone


def to_local(instant: datetime, airport_code: str) -> datetime:
    """The instant in the airport's local offset (for responses)."""
    return instant.astimezone(airport_zone(airport_code))


def local_to_utc(day: date, local_time: time, airport_code: str) -> datetime:
    """The UTC instant of a wall-clock time at the airport on that day.

    In the repeated hour of a DST fall-back the first (daylight) occurrence is taken; in the
    skipped hour of a spring-forward the time is read with the pre-change offset, which moves
    it forward by the gap, as airlines publish it.
    """
    zone = airport_zone(airport_code)
    return datetime.combine(day, local_time, tzinfo=zone).astimezone(ZoneInfo("UTC"))


@lru_cache(maxsize=4096)
def great_circle_km(origin: str, destination: str) -> int:
    """The great-circle (haversine) distance between two airports, rounded to whole km."""
    a, b = get_airport(origin), get_airport(destination)
    lat1, lat2 = math.radians(a.latitude), math.radians(b.latitude)
    dlat = lat2 - lat1
    dlon = math.radians(b.longitude - a.longitude)
    h = math.sin(dlat / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin(dlon / 2) ** 2
    return round(2 * EARTH_RADIUS_KM * math.asin(math.sqrt(min(1.0, h))))
