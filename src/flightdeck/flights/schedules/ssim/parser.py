"""Streaming parser of IATA SSIM chapter 7 files.

`read_ssim(lines)` reads one line at a time and yields, in file order:

* `SsimFlight`: the flight leg records (type 3) of one itinerary variation of a flight (its
  legs, in leg sequence) with the segment data records (type 4) that follow them;
* `SsimRejection`: a line that cannot be used, with its number and the first bad field;
* `SsimWarning`: a usable line with something FlightDeck ignored (e.g. segment data for a leg
  the flight does not have).

Only one flight is held at a time, so memory does not grow with the file. Header (1), carrier
(2) and trailer (5) records are checked; a carrier record sets the time mode ("L" local, "U"
UTC) and the validity period for the legs after it; lines of zeros are block fillers.

Choices where the standard leaves room:

* Lines may have lost their trailing blanks (padded back to 200), may end in CRLF, and the
  text may start with a byte-order mark. Two-digit years are 20YY.
* Period "to" 00XXX00 (open-ended) means the end of the carrier's validity period.
* Frequency rate other than weekly (byte 36 "2": every two weeks) is rejected: a FlightDeck
  schedule flies every week.
* A blank aircraft type reads as none (the standard requires one; FlightDeck does not).
* Segment data kept (data element identifiers): 2 and 9 (operating carrier of a codeshare),
  50 (operating flight), 108 (configuration longer than 20 bytes) and 170 (passenger traffic
  restriction where the leg's code is Z). Other identifiers are valid data FlightDeck does
  not use and are passed over.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from flightdeck.flights.schedules.ssim import records as r
from flightdeck.flights.schedules.ssim.records import FieldError, match

# A flight leg record must reach the aircraft type (bytes 73-75) to be usable.
LEG_MIN_LENGTH = 75
# SSIM Appendix G; the rules FlightDeck applies to them are in flights/inventory/traffic.py.
TRAFFIC_RESTRICTION_CODES = "ABCDEFGHIKMNOQTVWXYZ"
_FILLER_CHARS = frozenset("0")
_KEPT_DATA_ELEMENTS = frozenset({2, 9, 50, 108, 170})


@dataclass
class SsimLeg:
    """One flight leg record as filed: times in the file's time mode, dates in flight dates
    (the period and days belong to the flight; `departure_day` and `arrival_day` are the date
    variations of this leg from the flight's date)."""

    line_number: int
    airline: str
    flight_number: str  # FlightDeck form: "FD101"
    itinerary_variation: int | None
    leg_sequence: int
    service_type: str
    period_from: dt.date
    period_to: dt.date
    days_of_week: str
    origin: str
    destination: str
    departure: dt.time
    arrival: dt.time
    departure_utc_offset: int
    arrival_utc_offset: int
    departure_day: int
    arrival_day: int | None
    aircraft_type: str | None
    configuration: str
    time_mode: str
    traffic_restrictions: str | None = None
    onward_flight: str | None = None
    operating_carrier: str | None = None
    operating_flight: str | None = None


@dataclass
class SsimFlight:
    """The legs of one itinerary variation of a flight, in leg sequence."""

    legs: list[SsimLeg] = field(default_factory=list)

    @property
    def key(self) -> tuple[str, int | None]:
        return self.legs[0].flight_number, self.legs[0].itinerary_variation


@dataclass(frozen=True)
class SsimRejection:
    line_number: int
    reason: str


@dataclass(frozen=True)
class SsimWarning:
    line_number: int
    warning: str


@dataclass(frozen=True)
class SsimCarrier:
    line_number: int
    airline: str
    time_mode: str


SsimItem = SsimFlight | SsimRejection | SsimWarning | SsimCarrier


@dataclass
class _State:
    time_mode: str | None = None
    validity_to: dt.date | None = None
    flight: SsimFlight | None = None


def read_ssim(lines: Iterable[str]) -> Iterator[SsimItem]:
    """The file's flights, carriers, rejections and warnings, in file order."""
    state = _State()
    for line_number, raw_line in enumerate(lines, start=1):
        line = raw_line.rstrip("\r\n")
        if line_number == 1:
            line = line.removeprefix("\ufeff")
        try:
            yield from _read_line(line_number, line, state)
        except FieldError as error:
            yield SsimRejection(line_number, str(error))
    if state.flight is not None:
        yield state.flight


def _read_line(line_number: int, line: str, state: _State) -> Iterator[SsimItem]:
    if not line.strip() or set(line) <= _FILLER_CHARS:
        return
    if len(line.rstrip()) > r.RECORD_LENGTH:
        raise FieldError(f"record length: {len(line.rstrip())} characters, at most 200 allowed")
    record = line.ljust(r.RECORD_LENGTH)
    record_type = record[0]
    if record_type == "3":
        leg = _read_leg(line_number, line.rstrip(), record, state)
        flight = state.flight
        if flight is not None and (
            flight.key != (leg.flight_number, leg.itinerary_variation)
            or leg.leg_sequence <= flight.legs[-1].leg_sequence
        ):
            yield flight
            flight = None
        state.flight = flight if flight is not None else SsimFlight()
        state.flight.legs.append(leg)
        return
    if record_type == "4":
        yield from _read_segment(line_number, record, state.flight)
        return
    if state.flight is not None:
        yield state.flight
        state.flight = None
    if record_type == "2":
        yield _read_carrier(line_number, record, state)
    elif record_type == "1":
        _check_header(record)
    elif record_type == "5":
        _check_trailer(record)
    else:
        raise FieldError(
            f"record type: unknown {record_type!r}, expected 1-5 or a line of zero fillers"
        )


def _check_header(record: str) -> None:
    title = r.HEADER_TITLE_FIELD.read(record)
    if title != r.HEADER_TITLE:
        raise FieldError(f"header: {record[:35]!r} is not {'1' + r.HEADER_TITLE!r}")


def _read_carrier(line_number: int, record: str, state: _State) -> SsimCarrier:
    time_mode = r.TIME_MODE.read(record)
    if time_mode not in ("L", "U"):
        raise FieldError(f"{r.TIME_MODE.name}: {time_mode!r} is not L (local) or U (UTC)")
    airline = match(r.AIRLINE.name, r.AIRLINE_FORMAT, r.AIRLINE.read(record).rstrip())
    validity_to = r.VALIDITY_TO.read(record)
    state.time_mode = time_mode
    state.validity_to = (
        r.read_date(r.VALIDITY_TO.name, validity_to) if validity_to.strip() else None
    )
    return SsimCarrier(line_number, airline, time_mode)


def _check_trailer(record: str) -> None:
    match(r.AIRLINE.name, r.AIRLINE_FORMAT, r.AIRLINE.read(record).rstrip())
    end_code = r.END_CODE.read(record)
    if end_code not in ("C", "E"):
        raise FieldError(f"{r.END_CODE.name}: {end_code!r} is not C or E")


def _read_leg(line_number: int, line: str, record: str, state: _State) -> SsimLeg:
    if len(line) < LEG_MIN_LENGTH:
        raise FieldError(
            f"record length: flight leg record has only {len(line)} characters, "
            f"needs at least {LEG_MIN_LENGTH} (through the aircraft type)"
        )
    airline = match(r.AIRLINE.name, r.AIRLINE_FORMAT, r.AIRLINE.read(record).rstrip())
    number = match(
        r.FLIGHT_NUMBER.name, r.FLIGHT_NUMBER_FORMAT, r.FLIGHT_NUMBER.read(record).strip()
    )
    period_from = r.read_date(r.PERIOD_FROM.name, r.PERIOD_FROM.read(record))
    _check_frequency(r.FREQUENCY_RATE.read(record))
    departure_day, arrival_day = _read_date_variations(r.DATE_VARIATION.read(record))
    return SsimLeg(
        line_number=line_number,
        airline=airline,
        flight_number=f"{airline}{int(number)}{_suffix(record)}",
        itinerary_variation=_itinerary_variation(record),
        leg_sequence=int(_field(record, r.LEG_SEQUENCE, r.TWO_DIGITS)),
        service_type=_field(record, r.SERVICE_TYPE, r.LETTER),
        period_from=period_from,
        period_to=_read_period_to(r.PERIOD_TO.read(record), period_from, state),
        days_of_week=r.read_days(r.DAYS_OF_OPERATION.name, r.DAYS_OF_OPERATION.read(record)),
        origin=_field(record, r.DEPARTURE_STATION, r.STATION),
        destination=_field(record, r.ARRIVAL_STATION, r.STATION),
        departure=r.read_time(r.PASSENGER_STD.name, r.PASSENGER_STD.read(record)),
        arrival=r.read_time(r.PASSENGER_STA.name, r.PASSENGER_STA.read(record)),
        departure_utc_offset=r.read_utc_offset(
            r.DEPARTURE_VARIATION.name, r.DEPARTURE_VARIATION.read(record)
        ),
        arrival_utc_offset=r.read_utc_offset(
            r.ARRIVAL_VARIATION.name, r.ARRIVAL_VARIATION.read(record)
        ),
        departure_day=departure_day,
        arrival_day=arrival_day,
        aircraft_type=_aircraft_type(record),
        configuration=r.CONFIGURATION.read(record).strip(),
        time_mode=state.time_mode or "L",
        traffic_restrictions=_traffic_restrictions(record),
        onward_flight=_onward_flight(record),
    )


def _field(record: str, where: r.Field, expected: r.Format) -> str:
    return match(where.name, expected, where.read(record))


def _suffix(record: str) -> str:
    suffix = r.OPERATIONAL_SUFFIX.read(record).strip()
    return match(r.OPERATIONAL_SUFFIX.name, r.LETTER, suffix) if suffix else ""


def _itinerary_variation(record: str) -> int:
    units = int(_field(record, r.ITINERARY_VARIATION, r.TWO_DIGITS))
    overflow = r.ITINERARY_VARIATION_OVERFLOW.read(record).strip()
    if overflow and not overflow.isdigit():
        raise FieldError(f"{r.ITINERARY_VARIATION_OVERFLOW.name}: {overflow!r} is not a digit")
    return int(overflow or 0) * 100 + units


def _check_frequency(raw: str) -> None:
    if raw not in (" ", "1"):
        raise FieldError(
            f"{r.FREQUENCY_RATE.name}: {raw!r} (every {raw} weeks) is not supported, "
            "a schedule flies every week"
        )


def _read_period_to(raw: str, period_from: dt.date, state: _State) -> dt.date:
    if raw == r.OPEN_ENDED_DATE:
        if state.validity_to is None:
            raise FieldError(
                f"{r.PERIOD_TO.name}: open-ended {raw!r} needs the carrier record's "
                "period of schedule validity"
            )
        period_to = state.validity_to
    else:
        period_to = r.read_date(r.PERIOD_TO.name, raw)
    if period_to < period_from:
        raise FieldError(
            f"{r.PERIOD_TO.name}: {raw!r} is before period from {r.format_date(period_from)}"
        )
    return period_to


def _read_date_variations(raw: str) -> tuple[int, int | None]:
    """(departure days after the flight date, arrival days after it or None)."""
    departure_raw, arrival_raw = raw[0], raw[1]
    departure = (
        0
        if departure_raw == " "
        else r.read_date_variation("departure date variation", departure_raw)
    )
    arrival = (
        None if arrival_raw == " " else r.read_date_variation("arrival date variation", arrival_raw)
    )
    return departure, arrival


def _aircraft_type(record: str) -> str | None:
    raw = r.AIRCRAFT_TYPE.read(record)
    return None if not raw.strip() else match(r.AIRCRAFT_TYPE.name, r.AIRCRAFT_TYPE_FORMAT, raw)


def _traffic_restrictions(record: str) -> str | None:
    codes = r.TRAFFIC_RESTRICTION.read(record).rstrip()
    for position, code in enumerate(codes, start=1):
        if code != " " and code not in TRAFFIC_RESTRICTION_CODES:
            raise FieldError(
                f"{r.TRAFFIC_RESTRICTION.name}: {code!r} at position {position} is not a "
                "traffic restriction code"
            )
    return codes or None


def _onward_flight(record: str) -> str | None:
    airline = r.ONWARD_AIRLINE.read(record).strip()
    number = r.ONWARD_NUMBER.read(record).strip()
    if not airline and not number:
        return None
    suffix = r.ONWARD_SUFFIX.read(record).strip()
    return r.read_flight_designator("onward flight", f"{airline}{number}{suffix}")


def _read_segment(line_number: int, record: str, flight: SsimFlight | None) -> Iterator[SsimItem]:
    """Applies a segment data record to the flight it follows."""
    raw_identifier = r.DATA_ELEMENT_IDENTIFIER.read(record)
    if not raw_identifier.strip().isdigit():
        raise FieldError(f"{r.DATA_ELEMENT_IDENTIFIER.name}: {raw_identifier!r} is not a number")
    identifier = int(raw_identifier)
    if identifier not in _KEPT_DATA_ELEMENTS:
        return
    board = _field(record, r.BOARD_POINT, r.STATION)
    off = _field(record, r.OFF_POINT, r.STATION)
    data = r.SEGMENT_DATA.read(record).strip()
    if flight is None:
        yield SsimWarning(line_number, "segment data: no flight leg record before it; ignored")
        return
    legs = flight.legs
    start = next((i for i, leg in enumerate(legs) if leg.origin == board), None)
    end = (
        None
        if start is None
        else next((j for j in range(start, len(legs)) if legs[j].destination == off), None)
    )
    if start is None or end is None:
        yield SsimWarning(
            line_number,
            f"segment data: {legs[0].flight_number} has no segment {board}-{off}; ignored",
        )
        return
    warning = apply_data_element(identifier, data, legs, start, end)
    if warning:
        yield SsimWarning(line_number, warning)


def apply_data_element(
    identifier: int, data: str, legs: list[SsimLeg], start: int, end: int
) -> str | None:
    """Keeps a data element of the segment from `legs[start]` to `legs[end]` on the legs
    (2, 9, 50, 108, 170; 8, an SSM traffic restriction, like 170 but for any code); a
    warning when its data cannot be used."""
    leg = legs[start]
    if identifier == 8:
        return _passenger_restriction(data, leg, end - start + 1, replace_any=True)
    if identifier in (2, 9):
        carrier = data.split()[0] if data else ""
        if not r.AIRLINE_FORMAT.pattern.fullmatch(carrier):
            return f"segment data {identifier}: {data!r} is not an airline designator; ignored"
        for each in legs[start : end + 1]:
            each.operating_carrier = carrier
    elif identifier == 50:
        try:
            leg.operating_flight = r.read_flight_designator("segment data 50", data)
        except FieldError as error:
            return f"{error}; ignored"
        leg.operating_carrier = (
            leg.operating_carrier or r.split_flight_number(leg.operating_flight)[0]
        )
    elif identifier == 108:
        leg.configuration = data
    else:  # 170: the passenger restriction of a segment whose code is Z
        return _passenger_restriction(data, leg, end - start + 1)
    return None


def _passenger_restriction(
    data: str, leg: SsimLeg, position: int, *, replace_any: bool = False
) -> str | None:
    code = data.split()[0] if data.strip() else ""
    if len(code) != 1 or code not in TRAFFIC_RESTRICTION_CODES or code == "Z":
        return f"segment data: {data!r} is not a traffic restriction code; ignored"
    if position > r.TRAFFIC_RESTRICTION.width:
        return f"segment data: a segment of {position} legs has no traffic restriction position"
    codes = list((leg.traffic_restrictions or "").ljust(position))
    if codes[position - 1] != "Z" and not replace_any:
        return None  # the leg record's own code governs
    codes[position - 1] = code
    leg.traffic_restrictions = "".join(codes).rstrip() or None
    return None
