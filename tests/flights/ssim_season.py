"""A generated season of SSIM chapter 7 data, as airlines file it (tests and `make bench-ssim`).

`season_lines(spec)` yields the lines of a file with several carriers (local-time and
UTC-time ones), single and multi-leg flights (up to three legs, downline legs departing the
next day after overnight legs), every configuration form, cargo and charter services, traffic
restrictions, codeshare segment data and onward flights. Like real files, a flight's schedule
changes times every few weeks and every record is cut where an airport's UTC variation
changes (DST in New York, Europe and Sydney between October and April), so each record's
stated variations are true for all its dates. It is generated one flight at a time: a file
of any size costs no memory.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import airportsdata

MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
AIRPORTS = (
    "JFK", "ORD", "LAX", "BOS", "MIA", "YYZ", "LHR", "CDG", "AMS", "FRA", "MAD",
    "SYD", "MEL", "AKL", "NRT", "DXB", "SIN", "DEL", "JNB", "GRU",
)  # fmt: skip
CONFIGURATIONS = (
    "J12Y138", "C30Y150", "F8J42W24Y302", "J14W34Y316VV364", "Y118VV118", "F4C38E24M201",
    "C030Y150", "VV73H", "", "J1234",
)  # fmt: skip
_ZONES = {code: ZoneInfo(airportsdata.load("IATA")[code]["tz"]) for code in AIRPORTS}


@dataclass(frozen=True)
class SeasonSpec:
    carriers: tuple[tuple[str, str], ...] = (("FD", "L"), ("ZX", "L"), ("Q7", "U"))
    flights_per_carrier: int = 6
    first: date = date(2026, 10, 1)
    last: date = date(2027, 4, 10)
    weeks_per_timing: int = 8  # a flight changes its times this often
    seed: int = 7
    max_leg_records: int | None = None  # stop after the flight that reaches it


@dataclass(frozen=True)
class _Leg:
    origin: str
    destination: str
    block: timedelta
    ground: timedelta  # before this leg, after the previous one lands


@dataclass(frozen=True)
class _Flight:
    airline: str
    number: int
    legs: tuple[_Leg, ...]
    service_type: str
    aircraft: str
    configuration: str
    traffic: tuple[str, ...]  # per leg
    codeshare: str | None
    onward: str | None


def _date(day: date) -> str:
    return f"{day.day:02d}{MONTHS[day.month - 1]}{day.year % 100:02d}"


def _offset(minutes: int) -> str:
    sign = "-" if minutes < 0 else "+"
    return f"{sign}{abs(minutes) // 60:02d}{abs(minutes) % 60:02d}"


def _variation(days: int) -> str:
    return "A" if days == -1 else str(days)


def record(fields: dict[int, str], serial: int) -> str:
    chars = [" "] * 200
    for first, text in fields.items():
        chars[first - 1 : first - 1 + len(text)] = text
    chars[194:200] = f"{serial % 1_000_000:06d}"
    return "".join(chars)


def _flights(spec: SeasonSpec, airline: str, rng: random.Random) -> Iterator[_Flight]:
    for index in range(spec.flights_per_carrier):
        count = rng.choices((1, 2, 3), weights=(6, 3, 1))[0]
        stations = rng.sample(AIRPORTS, count + 1)
        legs = tuple(
            _Leg(
                stations[i],
                stations[i + 1],
                timedelta(minutes=rng.randrange(60, 13 * 60, 5)),
                timedelta(minutes=rng.randrange(45, 150, 5)),
            )
            for i in range(count)
        )
        service = rng.choices(("J", "J", "J", "F", "C"), weights=(8, 1, 1, 1, 1))[0]
        traffic = tuple(rng.choice(("", "", "", "A", "K")) if count > 1 else "" for _ in legs)
        yield _Flight(
            airline=airline,
            number=index + 1,
            legs=legs,
            service_type=service,
            aircraft=rng.choice(("320", "77W", "789", "359", "73H")),
            configuration="" if service == "F" else rng.choice(CONFIGURATIONS),
            traffic=traffic,
            codeshare=rng.choice((None, None, "KL", "AF")),
            onward=rng.choice((None, None, f"{airline}{rng.randrange(1, 9999)}")),
        )


@dataclass(frozen=True)
class _Timed:
    """One end of a leg on one flight date, in the file's time mode."""

    station: str
    clock: str  # HHMM
    offset: int  # the station's UTC variation then, minutes
    day: int  # days after the flight date


def _timed_legs(
    flight: _Flight, day: date, departure: time, utc_mode: bool
) -> tuple[tuple[_Timed, _Timed], ...]:
    """Each leg's departure and arrival on that flight date."""
    zone = UTC if utc_mode else _ZONES[flight.legs[0].origin]
    instant = datetime.combine(day, departure, zone)
    timed = []
    for i, leg in enumerate(flight.legs):
        if i:
            instant += leg.ground
        landing = instant + leg.block
        ends = []
        for station, moment in ((leg.origin, instant), (leg.destination, landing)):
            local = moment.astimezone(_ZONES[station])
            offset = local.utcoffset() or timedelta(0)
            clock = moment.astimezone(UTC) if utc_mode else local
            ends.append(
                _Timed(
                    station,
                    f"{clock:%H%M}",
                    int(offset.total_seconds() // 60),
                    (clock.date() - day).days,
                )
            )
        timed.append((ends[0], ends[1]))
        instant = landing
    return tuple(timed)


def _records(
    flight: _Flight, spec: SeasonSpec, utc_mode: bool, rng: random.Random
) -> Iterator[list[str]]:
    """The flight's records, one list of leg (and segment) records per itinerary variation."""
    variation = 0
    start = spec.first + timedelta(days=rng.randrange(14))
    while start <= spec.last:
        end = min(spec.last, start + timedelta(weeks=spec.weeks_per_timing) - timedelta(days=1))
        days = "".join(sorted(rng.sample("1234567", rng.randrange(3, 8))))
        departure = time(rng.randrange(0, 24), rng.randrange(0, 60, 5))
        run: list[date] = []
        previous: tuple[int, ...] = ()
        day = start
        while day <= end + timedelta(days=1):
            # The UTC variations of every leg end decide the times; a change starts a record.
            offsets = _offsets(flight, day, departure, utc_mode) if day <= end else ()
            if run and offsets != previous:
                variation += 1
                timed = _timed_legs(flight, run[0], departure, utc_mode)
                yield _itinerary_records(flight, variation, run, days, timed)
                run = []
            if offsets and str(day.isoweekday()) in days:
                run.append(day)
                previous = offsets
            day += timedelta(days=1)
        start = end + timedelta(days=1)


def _offsets(flight: _Flight, day: date, departure: time, utc_mode: bool) -> tuple[int, ...]:
    zone = UTC if utc_mode else _ZONES[flight.legs[0].origin]
    instant = datetime.combine(day, departure, zone)
    found = []
    for i, leg in enumerate(flight.legs):
        if i:
            instant += leg.ground
        landing = instant + leg.block
        for station, moment in ((leg.origin, instant), (leg.destination, landing)):
            offset = moment.astimezone(_ZONES[station]).utcoffset()
            found.append(int(offset.total_seconds()) if offset else 0)
        instant = landing
    return tuple(found)


def _itinerary_records(
    flight: _Flight,
    variation: int,
    run: list[date],
    days: str,
    timed: tuple[tuple[_Timed, _Timed], ...],
) -> list[str]:
    lines = []
    number = f"{flight.number:04d}"
    for sequence, (departure, arrival) in enumerate(timed, start=1):
        fields = {
            1: "3",
            3: flight.airline.ljust(3),
            6: number,
            10: f"{variation % 100:02d}",
            12: f"{sequence:02d}",
            14: flight.service_type,
            15: _date(run[0]),
            22: _date(run[-1]),
            29: "".join(d if d in days else " " for d in "1234567"),
            37: departure.station,
            40: departure.clock * 2,
            48: _offset(departure.offset),
            55: arrival.station,
            58: arrival.clock * 2,
            66: _offset(arrival.offset),
            73: flight.aircraft,
            173: flight.configuration,
            193: _variation(departure.day) + _variation(arrival.day),
        }
        if variation >= 100:
            fields[128] = str(variation // 100)
        if flight.traffic[sequence - 1]:
            fields[150] = flight.traffic[sequence - 1]
        if flight.onward and sequence == len(flight.legs):
            fields[138] = flight.onward[:2].ljust(3)
            fields[141] = flight.onward[2:].rjust(4, "0")
        lines.append(record(fields, 0))
    for sequence, leg in enumerate(flight.legs, start=1):
        if flight.codeshare:
            segment = {1: "4", 3: flight.airline.ljust(3), 6: number, 10: f"{variation % 100:02d}"}
            segment |= {12: f"{sequence:02d}", 14: flight.service_type, 31: "002"}
            segment |= {34: leg.origin, 37: leg.destination, 40: flight.codeshare}
            lines.append(record(segment, 0))
    return lines


def season_lines(spec: SeasonSpec = SeasonSpec()) -> Iterator[str]:
    """The whole file, line by line (newline included), serial numbers in order."""
    rng = random.Random(spec.seed)
    serial = 1
    legs = 0
    yield record({1: "1", 2: "AIRLINE STANDARD SCHEDULE DATA SET", 41: "1"}, serial) + "\n"
    for airline, mode in spec.carriers:
        serial += 1
        carrier = {
            1: "2",
            2: mode,
            3: airline.ljust(3),
            15: _date(spec.first),
            22: _date(spec.last),
        }
        yield record(carrier, serial) + "\n"
        for flight in _flights(spec, airline, rng):
            if spec.max_leg_records is not None and legs >= spec.max_leg_records:
                break
            for itinerary in _records(flight, spec, mode == "U", rng):
                for line in itinerary:
                    serial += 1
                    legs += line.startswith("3")
                    yield line[:194] + f"{serial % 1_000_000:06d}\n"
        serial += 1
        yield (
            record({1: "5", 3: airline.ljust(3), 188: f"{serial - 1:06d}", 194: "E"}, serial) + "\n"
        )
