"""Parser for IATA SSIM chapter 7 schedule files (200-byte fixed-width records).

Record types: 1 header, 2 carrier, 3 flight leg, 4 segment data, 5 trailer; lines of
zeros are block fillers. Only type 3 records become :class:`SsimLeg`; types 1, 2 and 5
are checked lightly, type 4 (segment data) is skipped because FlightDeck stores nothing
from it, and any other record type is rejected. A bad line is reported in
``SsimParseResult.rejected`` with its line number and the first bad field; the other
lines still load.

Choices made where the standard leaves room or FlightDeck needs a simpler shape:

* Lines may have lost their trailing blanks (they are padded back to 200 characters),
  may end in CRLF, and the text may start with a byte-order mark.
* Two-digit years are read as 20YY.
* An open-ended period ("00XXX00" in period to) is rejected: a leg needs a last date.
* Times are kept as written. ``time_mode`` says whether they are local ("L") or UTC
  ("U"); it is taken from the first carrier record.
* SSIM gives the period and days of operation for the flight's first departure and
  tells with the date variation (byte 193) how many days later a downline leg leaves.
  FlightDeck wants each leg's own departure dates, so those are shifted by that many days.
* ``arrival_day_offset`` is the arrival date variation (byte 194, "A" = -1) minus the
  departure one. When byte 194 is blank it is computed from the UTC instants, assuming
  the block time is under 24 hours.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field

RECORD_LENGTH = 200
# A flight leg record must reach the aircraft type (bytes 73-75) to be usable.
_LEG_MIN_LENGTH = 75
_MINUTES_PER_DAY = 24 * 60
_MAX_UTC_OFFSET_MINUTES = 14 * 60
_HEADER_TITLE = "1AIRLINE STANDARD SCHEDULE DATA SET"
_OPEN_ENDED_DATE = "00XXX00"
_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")


@dataclass(frozen=True)
class _Format:
    pattern: re.Pattern[str]
    description: str


_AIRLINE = _Format(re.compile(r"[A-Z0-9]{2}[A-Z]?"), "a 2-3 character airline designator")
_FLIGHT_NUMBER = _Format(re.compile(r"[0-9]{1,4}"), "a 1-4 digit flight number")
_TWO_DIGITS = _Format(re.compile(r"[0-9]{2}"), "two digits")
_SERVICE_TYPE = _Format(re.compile(r"[A-Z]"), "one uppercase letter")
_STATION = _Format(re.compile(r"[A-Z]{3}"), "3 uppercase letters")
_AIRCRAFT_TYPE = _Format(re.compile(r"[A-Z0-9]{3}"), "a 3 character IATA aircraft type")
_TIME = _Format(re.compile(r"([01][0-9]|2[0-3])[0-5][0-9]"), "a valid HHMM time")
_UTC_OFFSET = _Format(re.compile(r"[+-][0-9]{2}[0-5][0-9]"), "+HHMM or -HHMM")
_DATE = _Format(re.compile(r"[0-9]{2}[A-Z]{3}[0-9]{2}"), "a DDMMMYY date")
_DATE_VARIATION = _Format(re.compile(r"[0-9A]"), "a digit or A (day before)")
_FILLER = re.compile(r"0+")


@dataclass(frozen=True)
class SsimLeg:
    line_number: int
    airline: str
    flight_number: str
    itinerary_variation: str
    leg_sequence: int
    service_type: str
    period_from: dt.date
    period_to: dt.date
    days_of_week: str
    origin: str
    destination: str
    departure_local: dt.time
    arrival_local: dt.time
    departure_utc_offset_minutes: int
    arrival_utc_offset_minutes: int
    arrival_day_offset: int
    aircraft_type: str
    departure_terminal: str | None
    arrival_terminal: str | None


@dataclass(frozen=True)
class SsimRejection:
    line_number: int
    reason: str


@dataclass
class SsimParseResult:
    legs: list[SsimLeg] = field(default_factory=list)
    rejected: list[SsimRejection] = field(default_factory=list)
    carriers: list[str] = field(default_factory=list)
    time_mode: str | None = None


class _FieldError(ValueError):
    """A record failed validation; the message is the rejection reason."""


def parse_ssim(text: str) -> SsimParseResult:
    """Parse SSIM chapter 7 text into legs, keeping going past bad lines."""
    result = SsimParseResult()
    for line_number, raw_line in enumerate(text.removeprefix("\ufeff").split("\n"), start=1):
        try:
            _parse_line(line_number, raw_line.rstrip("\r"), result)
        except _FieldError as error:
            result.rejected.append(SsimRejection(line_number, str(error)))
    return result


def _parse_line(line_number: int, line: str, result: SsimParseResult) -> None:
    if not line.strip() or _FILLER.fullmatch(line):
        return
    if len(line.rstrip()) > RECORD_LENGTH:
        raise _FieldError(f"record length: {len(line.rstrip())} characters, at most 200 allowed")
    record = line.ljust(RECORD_LENGTH)
    record_type = record[0]
    if record_type == "3":
        times_are_utc = result.time_mode == "U"
        result.legs.append(_parse_leg(line_number, line.rstrip(), record, times_are_utc))
    elif record_type == "2":
        _read_carrier(record, result)
    elif record_type == "1":
        _check_header(record)
    elif record_type == "5":
        _check_trailer(record)
    elif record_type != "4":
        raise _FieldError(
            f"record type: unknown {record_type!r}, expected 1-5 or a line of zero fillers"
        )


def _field(record: str, first: int, last: int) -> str:
    """Slice by the 1-based, inclusive byte positions the SSIM manual uses."""
    return record[first - 1 : last]


def _match(name: str, expected: _Format, raw: str) -> str:
    if not expected.pattern.fullmatch(raw):
        raise _FieldError(f"{name}: {raw!r} is not {expected.description}")
    return raw


def _check_header(record: str) -> None:
    if not record.startswith(_HEADER_TITLE):
        raise _FieldError(f"header: {record[:35]!r} is not {_HEADER_TITLE!r}")


def _read_carrier(record: str, result: SsimParseResult) -> None:
    time_mode = _field(record, 2, 2)
    if time_mode not in ("L", "U"):
        raise _FieldError(f"time mode: {time_mode!r} is not L (local) or U (UTC)")
    airline = _match("airline designator", _AIRLINE, _field(record, 3, 5).rstrip())
    if airline not in result.carriers:
        result.carriers.append(airline)
    if result.time_mode is None:
        result.time_mode = time_mode


def _check_trailer(record: str) -> None:
    _match("airline designator", _AIRLINE, _field(record, 3, 5).rstrip())
    end_code = _field(record, 194, 194)
    if end_code not in ("C", "E"):
        raise _FieldError(f"continuation/end code: {end_code!r} is not C or E")


def _parse_leg(line_number: int, line: str, record: str, times_are_utc: bool) -> SsimLeg:
    if len(line) < _LEG_MIN_LENGTH:
        raise _FieldError(
            f"record length: flight leg record has only {len(line)} characters, "
            f"needs at least {_LEG_MIN_LENGTH} (through the aircraft type)"
        )
    airline = _match("airline designator", _AIRLINE, _field(record, 3, 5).rstrip())
    number = _match("flight number", _FLIGHT_NUMBER, _field(record, 6, 9).strip())
    period_from = _parse_date("period from", _field(record, 15, 21))
    period_to = _parse_period_to(_field(record, 22, 28), period_from)
    days = _parse_days_of_operation(_field(record, 29, 35))
    departure = _parse_time("departure time (passenger STD)", _field(record, 40, 43))
    departure_offset = _parse_utc_offset("departure UTC variation", _field(record, 48, 52))
    arrival = _parse_time("arrival time (passenger STA)", _field(record, 62, 65))
    arrival_offset = _parse_utc_offset("arrival UTC variation", _field(record, 66, 70))
    departure_shift, arrival_variation = _parse_date_variations(_field(record, 193, 194))
    # In a UTC-mode file the times already are UTC, so no variation is applied to them.
    departure_utc = _minutes(departure) - (0 if times_are_utc else departure_offset)
    arrival_utc = _minutes(arrival) - (0 if times_are_utc else arrival_offset)
    return SsimLeg(
        line_number=line_number,
        airline=airline,
        flight_number=f"{airline}{int(number)}",
        itinerary_variation=_match("itinerary variation", _TWO_DIGITS, _field(record, 10, 11)),
        leg_sequence=int(_match("leg sequence number", _TWO_DIGITS, _field(record, 12, 13))),
        service_type=_match("service type", _SERVICE_TYPE, _field(record, 14, 14)),
        period_from=period_from + dt.timedelta(days=departure_shift),
        period_to=period_to + dt.timedelta(days=departure_shift),
        days_of_week=_shift_days(days, departure_shift),
        origin=_match("departure station", _STATION, _field(record, 37, 39)),
        destination=_match("arrival station", _STATION, _field(record, 55, 57)),
        departure_local=departure,
        arrival_local=arrival,
        departure_utc_offset_minutes=departure_offset,
        arrival_utc_offset_minutes=arrival_offset,
        arrival_day_offset=_arrival_day_offset(
            None if arrival_variation is None else arrival_variation - departure_shift,
            departure_utc,
            arrival_utc,
        ),
        aircraft_type=_match("aircraft type", _AIRCRAFT_TYPE, _field(record, 73, 75)),
        departure_terminal=_field(record, 53, 54).strip() or None,
        arrival_terminal=_field(record, 71, 72).strip() or None,
    )


def _parse_date(name: str, raw: str) -> dt.date:
    _match(name, _DATE, raw)
    month = raw[2:5]
    try:
        # Parsed by hand because strptime's month names follow the process locale.
        return dt.date(2000 + int(raw[5:7]), _MONTHS.index(month) + 1, int(raw[0:2]))
    except ValueError:
        raise _FieldError(f"{name}: {raw!r} is not a valid calendar date") from None


def _parse_period_to(raw: str, period_from: dt.date) -> dt.date:
    if raw == _OPEN_ENDED_DATE:
        raise _FieldError(f"period to: open-ended {raw!r} is not supported, a last date is needed")
    period_to = _parse_date("period to", raw)
    if period_to < period_from:
        raise _FieldError(f"period to: {raw!r} is before period from {period_from:%d%b%y}")
    return period_to


def _parse_days_of_operation(raw: str) -> str:
    """Turn SSIM's positional mask (" 2 4 6 ") into FlightDeck's digits ("246")."""
    for position, char in enumerate(raw, start=1):
        if char not in (" ", str(position)):
            raise _FieldError(
                f"days of operation: {raw!r} has {char!r} at position {position}, "
                f"expected {position} or blank"
            )
    days = raw.replace(" ", "")
    if not days:
        raise _FieldError("days of operation: all blank, the leg never operates")
    return days


def _shift_days(days: str, shift: int) -> str:
    return "".join(sorted(str((int(day) - 1 + shift) % 7 + 1) for day in days))


def _parse_time(name: str, raw: str) -> dt.time:
    _match(name, _TIME, raw)
    return dt.time(int(raw[:2]), int(raw[2:]))


def _parse_utc_offset(name: str, raw: str) -> int:
    _match(name, _UTC_OFFSET, raw)
    minutes = int(raw[1:3]) * 60 + int(raw[3:5])
    if minutes > _MAX_UTC_OFFSET_MINUTES:
        raise _FieldError(f"{name}: {raw!r} is beyond +/-14:00")
    return -minutes if raw[0] == "-" else minutes


def _parse_date_variations(raw: str) -> tuple[int, int | None]:
    """Return (departure days after the flight date, arrival days after it or None)."""
    departure_raw, arrival_raw = raw[0], raw[1]
    departure = 0 if departure_raw == " " else _date_variation("departure", departure_raw)
    arrival = None if arrival_raw == " " else _date_variation("arrival", arrival_raw)
    return departure, arrival


def _date_variation(which: str, raw: str) -> int:
    _match(f"{which} date variation", _DATE_VARIATION, raw)
    return -1 if raw == "A" else int(raw)


def _minutes(clock: dt.time) -> int:
    return clock.hour * 60 + clock.minute


def _arrival_day_offset(given: int | None, departure_utc: int, arrival_utc: int) -> int:
    """Days from the leg's departure date to its arrival date, both as written.

    The UTC minutes are counted from midnight of the departure date and of the arrival
    date respectively, so they may fall outside 0..1439.
    """
    if given is None:
        # Block times are under 24 hours: arrival is the first matching instant after departure.
        return (departure_utc - arrival_utc) // _MINUTES_PER_DAY + 1
    if arrival_utc + given * _MINUTES_PER_DAY <= departure_utc:
        raise _FieldError(
            f"date variation: arrival day offset {given} puts arrival before departure in UTC"
        )
    return given
