"""Export of what FlightDeck holds as an IATA SSIM chapter 7 file, streamed.

What is written: every active schedule (each leg a flight leg record) and every flight made on
its own (no schedule, not cancelled) as a one-day record, per airline: header, then for each
airline a carrier record, its legs and a trailer. Schedules are read a page at a time and one
flight number is held in memory at a time.

* Legs of one flight number whose schedules share itinerary variation, flight-date period and
  days are written together as one itinerary variation, in leg sequence. Each variation gets a
  number unique within its flight number: the stored one where it is free, else the next free.
* Records are in local time (time mode "L"). A period is split where an airport's UTC
  variation changes (DST), so each record states the variation true for all its dates; the
  pieces are separate itinerary variations.
* `first`/`last` keep the flight dates in that window (periods are cut to it).
* The configuration is the one filed when it still gives the schedule's cabins, else one made
  from the cabins. Fares, cancelled schedules (kept for an SSM reinstatement) and changes
  made to single dated flights of a schedule are not part of an SSIM file.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from itertools import groupby
from typing import Any, Protocol, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from flightdeck.flights.airports import get_airport, to_local
from flightdeck.flights.models import SOLD_SERVICE_TYPES, Flight, Schedule
from flightdeck.flights.schedules import repository as repo
from flightdeck.flights.schedules.generation import operating_dates
from flightdeck.flights.schedules.ssim.configuration import (
    booking_designators,
    format_configuration,
    read_configuration,
)
from flightdeck.flights.schedules.ssim.legs import DEFAULT_IMPORT_CABINS
from flightdeck.flights.schedules.ssim.records import shift_days, split_flight_number
from flightdeck.flights.schedules.ssim.writer import ExportLeg, SsimWriter
from flightdeck.platform.clock import utcnow
from flightdeck.platform.db import READ_ONLY
from flightdeck.platform.errors import Unprocessable

PAGE_SIZE = 500
_CHUNK_BYTES = 64 * 1024
_AIRCRAFT_TYPE = re.compile(r"[A-Z0-9]{3}")
K = TypeVar("K")
R = TypeVar("R")
N = TypeVar("N", bound="_Numbered")
Window = tuple[date | None, date | None]


@dataclass
class ExportStats:
    """What an export wrote, counted as it streams (for the command line's summary)."""

    carriers: list[str] = field(default_factory=list)
    variations: int = 0
    leg_records: int = 0


@dataclass(frozen=True)
class _Leg:
    """A leg of an itinerary, in flight-date terms: its departure is `departure_day` days
    after the flight date, its arrival `arrival_day` days after it."""

    template: ExportLeg  # period, days and variation filled in per piece
    departure_day: int
    arrival_day: int


@dataclass
class _Itinerary:
    stored_variation: int | None
    dates: list[date]  # flight dates, in the export's window
    legs: list[_Leg]
    # The period and days as stored, written as they are when nothing splits or cuts them.
    period: tuple[date, date, str] | None = None


async def export_lines(
    session: AsyncSession,
    *,
    carrier: str | None = None,
    first: date | None = None,
    last: date | None = None,
    stats: ExportStats | None = None,
) -> AsyncIterator[str]:
    """The file's lines (200 bytes and a newline each), read a page at a time."""
    stats = stats if stats is not None else ExportStats()
    envelope = await repo.export_envelope(session, carrier)
    today = utcnow().date()
    validity = (
        first or (envelope[0] if envelope else today),
        last or (envelope[1] if envelope else today),
    )
    writer = SsimWriter(utcnow())
    for line in writer.header():
        yield line
    airline: str | None = None
    async for number, itineraries in _itineraries_by_number(session, carrier, (first, last)):
        designator = split_flight_number(number)[0]
        if carrier is not None and designator != carrier:
            continue  # a longer designator sharing the prefix ("FDA" for "FD")
        if designator != airline:
            if airline is not None:
                for line in writer.trailer(airline, last=False):
                    yield line
            airline = designator
            stats.carriers.append(designator)
            for line in writer.carrier(designator, validity):
                yield line
        for legs in _numbered(itineraries):
            stats.variations += 1
            stats.leg_records += len(legs)
            for line in writer.legs(legs):
                yield line
    if airline is None:  # nothing to export: a file with one carrier and no legs
        airline = carrier or "XX"
        stats.carriers.append(airline)
        for line in writer.carrier(airline, validity):
            yield line
    for line in writer.trailer(airline, last=True):
        yield line


class _Numbered(Protocol):
    @property
    def flight_number(self) -> str: ...


async def _pages(
    fetch: Callable[[K | None], Awaitable[Sequence[R]]], key: Callable[[R], K]
) -> AsyncIterator[R]:
    after: K | None = None
    while True:
        page = await fetch(after)
        for row in page:
            yield row
        if len(page) < PAGE_SIZE:
            return
        after = key(page[-1])


async def _by_number(rows: AsyncIterator[N]) -> AsyncIterator[tuple[str, list[N]]]:
    """Consecutive rows of one flight number, grouped."""
    group: list[N] = []
    async for row in rows:
        if group and row.flight_number != group[0].flight_number:
            yield group[0].flight_number, group
            group = []
        group.append(row)
    if group:
        yield group[0].flight_number, group


async def _itineraries_by_number(
    session: AsyncSession, carrier: str | None, window: Window
) -> AsyncIterator[tuple[str, list[_Itinerary]]]:
    """Per flight number, in order: the itineraries of its schedules and lone flights."""

    def schedules(after: tuple[str, str] | None) -> Awaitable[list[Schedule]]:
        return repo.export_schedules_page(session, carrier, window, after, PAGE_SIZE)

    def flights(after: tuple[str, date, int] | None) -> Awaitable[list[Flight]]:
        return repo.export_flights_page(session, carrier, window, after, PAGE_SIZE)

    scheduled = _by_number(_pages(schedules, lambda s: (s.flight_number, s.id)))
    alone = _by_number(_pages(flights, lambda f: (f.flight_number, f.flight_date, f.leg_sequence)))
    next_scheduled = await anext(scheduled, None)
    next_alone = await anext(alone, None)
    while next_scheduled is not None or next_alone is not None:
        number = min(g[0] for g in (next_scheduled, next_alone) if g is not None)
        itineraries: list[_Itinerary] = []
        if next_scheduled is not None and next_scheduled[0] == number:
            itineraries += _schedule_itineraries(next_scheduled[1], window)
            next_scheduled = await anext(scheduled, None)
        if next_alone is not None and next_alone[0] == number:
            itineraries += _flight_itineraries(next_alone[1])
            next_alone = await anext(alone, None)
        yield number, itineraries


def _schedule_itineraries(schedules: list[Schedule], window: Window) -> list[_Itinerary]:
    def group_key(s: Schedule) -> tuple[int, date, date, str]:
        offset = timedelta(days=s.departure_day_offset)
        days = shift_days(s.days_of_week, -s.departure_day_offset)
        return (s.itinerary_variation or 0, s.valid_from - offset, s.valid_to - offset, days)

    itineraries: list[_Itinerary] = []
    ordered = sorted(schedules, key=lambda s: (group_key(s), s.leg_sequence, s.id))
    for (variation, start, end, days), members in groupby(ordered, key=group_key):
        legs: list[Schedule] = []
        for schedule in members:
            if legs and schedule.leg_sequence == legs[-1].leg_sequence:
                itineraries.append(_from_schedules(variation, (start, end, days), legs, window))
                legs = []
            legs.append(schedule)
        itineraries.append(_from_schedules(variation, (start, end, days), legs, window))
    return [itinerary for itinerary in itineraries if itinerary.dates]


def _from_schedules(
    variation: int, period: tuple[date, date, str], legs: list[Schedule], window: Window
) -> _Itinerary:
    first, last = window
    start, end, days = period
    everything = operating_dates(days, start, end)
    dates = [
        day
        for day in everything
        if (first is None or day >= first) and (last is None or day <= last)
    ]
    whole = period if dates == everything else None
    return _Itinerary(variation or None, dates, [_schedule_leg(s) for s in legs], whole)


def _cabin_seats(cabins: dict[str, Any]) -> dict[str, int]:
    return {name: int(spec["seats"]) for name, spec in cabins.items()}


def _configuration(schedule: Schedule, seats: dict[str, int]) -> str:
    """The configuration as a file gave it, when importing that again gives these cabins
    (also when the file gave none); else one made from the cabins."""
    if schedule.source in ("ssim", "ssm"):
        filed = schedule.aircraft_configuration or ""
        default = DEFAULT_IMPORT_CABINS if schedule.service_type in SOLD_SERVICE_TYPES else {}
        if (read_configuration(filed, DEFAULT_IMPORT_CABINS).seats or default) == seats:
            return filed
    return format_configuration(seats)


def _schedule_leg(schedule: Schedule) -> _Leg:
    seats = _cabin_seats(schedule.cabins)
    template = ExportLeg(
        flight_number=schedule.flight_number,
        itinerary_variation=0,
        leg_sequence=schedule.leg_sequence,
        service_type=schedule.service_type,
        period_from=schedule.valid_from,
        period_to=schedule.valid_to,
        days_of_week=schedule.days_of_week,
        origin=schedule.origin,
        destination=schedule.destination,
        departure=schedule.departure_local,
        arrival=schedule.arrival_local,
        departure_utc_offset=0,
        arrival_utc_offset=0,
        departure_day=0,
        arrival_day=0,
        aircraft_type=_aircraft_type(schedule.aircraft),
        booking_designators=booking_designators(seats),
        configuration=_configuration(schedule, seats),
        traffic_restrictions=schedule.traffic_restrictions,
        onward_flight=schedule.onward_flight,
        operating_carrier=schedule.operating_carrier,
        operating_flight=schedule.operating_flight,
    )
    offset = schedule.departure_day_offset
    return _Leg(template, offset, offset + schedule.arrival_day_offset)


def _aircraft_type(aircraft: str | None) -> str | None:
    return aircraft if aircraft and _AIRCRAFT_TYPE.fullmatch(aircraft) else None


def _flight_itineraries(flights: list[Flight]) -> list[_Itinerary]:
    itineraries: list[_Itinerary] = []
    for flight_date, legs in groupby(flights, key=lambda f: f.flight_date):
        itineraries.append(_Itinerary(None, [flight_date], [_flight_leg(f) for f in legs]))
    return itineraries


def _flight_leg(flight: Flight) -> _Leg:
    departure = to_local(flight.departure_at, flight.origin)
    arrival = to_local(flight.arrival_at, flight.destination)
    seats = {cabin.cabin: cabin.capacity for cabin in flight.cabins}
    template = ExportLeg(
        flight_number=flight.flight_number,
        itinerary_variation=flight.itinerary_variation or 0,
        leg_sequence=flight.leg_sequence,
        service_type=flight.service_type,
        period_from=flight.flight_date,
        period_to=flight.flight_date,
        days_of_week=str(flight.flight_date.isoweekday()),
        origin=flight.origin,
        destination=flight.destination,
        departure=departure.time().replace(second=0, microsecond=0),
        arrival=arrival.time().replace(second=0, microsecond=0),
        departure_utc_offset=0,
        arrival_utc_offset=0,
        departure_day=0,
        arrival_day=0,
        aircraft_type=_aircraft_type(flight.aircraft),
        booking_designators=booking_designators(seats),
        configuration=format_configuration(seats),
        traffic_restrictions=flight.traffic_restrictions,
        operating_carrier=flight.operating_carrier,
        operating_flight=flight.operating_flight,
    )
    return _Leg(
        template,
        (departure.date() - flight.flight_date).days,
        (arrival.date() - flight.flight_date).days,
    )


def _offsets(leg: _Leg, flight_date: date) -> tuple[int, int]:
    """The UTC variations (minutes) at the leg's two ends on that flight date."""
    template = leg.template
    departure = datetime.combine(
        flight_date + timedelta(days=leg.departure_day), template.departure
    )
    arrival = datetime.combine(flight_date + timedelta(days=leg.arrival_day), template.arrival)
    return _utc_offset(template.origin, departure), _utc_offset(template.destination, arrival)


def _utc_offset(airport: str, local: datetime) -> int:
    offset = get_airport(airport).zone.utcoffset(local)
    return int(offset.total_seconds() // 60) if offset is not None else 0


def _pieces(itinerary: _Itinerary) -> list[list[date]]:
    """The flight dates split where any leg end's UTC variation changes."""
    pieces: list[list[date]] = []
    previous: tuple[tuple[int, int], ...] | None = None
    for day in itinerary.dates:
        offsets = tuple(_offsets(leg, day) for leg in itinerary.legs)
        if offsets != previous:
            pieces.append([])
            previous = offsets
        pieces[-1].append(day)
    return pieces


def _numbered(itineraries: list[_Itinerary]) -> list[list[ExportLeg]]:
    """Each itinerary's pieces as leg records, each piece with its own variation number: the
    stored one when the itinerary is written whole and no other took it, else the next free."""
    split = [(itinerary, _pieces(itinerary)) for itinerary in itineraries]
    keeps = {
        id(itinerary): itinerary.stored_variation
        for itinerary, pieces in split
        if len(pieces) == 1 and itinerary.stored_variation is not None
    }
    kept: set[int] = set()
    for key, variation in list(keeps.items()):
        if variation is None or variation in kept:
            del keeps[key]
        else:
            kept.add(variation)
    free = (n for n in range(1, 1000) if n not in kept)
    records: list[list[ExportLeg]] = []
    for itinerary, pieces in split:
        for dates in pieces:
            variation = keeps.get(id(itinerary)) or next(free)
            period = itinerary.period if len(pieces) == 1 else None
            records.append([_record(leg, variation, dates, period) for leg in itinerary.legs])
    return records


def _record(
    leg: _Leg, variation: int, dates: list[date], period: tuple[date, date, str] | None
) -> ExportLeg:
    start, end, days = period or (
        dates[0],
        dates[-1],
        "".join(sorted({str(day.isoweekday()) for day in dates})),
    )
    departure_offset, arrival_offset = _offsets(leg, dates[0])
    return replace(
        leg.template,
        itinerary_variation=variation,
        period_from=start,
        period_to=end,
        days_of_week=days,
        departure_utc_offset=departure_offset,
        arrival_utc_offset=arrival_offset,
        departure_day=leg.departure_day,
        arrival_day=leg.arrival_day,
    )


class InvalidExportWindow(Unprocessable):
    code = "invalid_export_window"


def check_export_window(first: date | None, last: date | None) -> None:
    """422 when the window is empty (checked before a streamed answer starts)."""
    if first is not None and last is not None and last < first:
        raise InvalidExportWindow(
            f"to: {last.isoformat()} is before from {first.isoformat()}",
            details={"field": "to"},
        )


async def stream_export(
    sessionmaker: async_sessionmaker[AsyncSession],
    *,
    carrier: str | None,
    first: date | None,
    last: date | None,
) -> AsyncIterator[bytes]:
    """`export_lines` in chunks of about 64 kB, read in a session of its own (a streamed
    answer outlives the request's session)."""
    async with sessionmaker() as session:
        await session.connection(execution_options={READ_ONLY: True})
        chunk: list[str] = []
        size = 0
        async for line in export_lines(session, carrier=carrier, first=first, last=last):
            chunk.append(line)
            size += len(line)
            if size >= _CHUNK_BYTES:
                yield "".join(chunk).encode()
                chunk, size = [], 0
        if chunk:
            yield "".join(chunk).encode()
