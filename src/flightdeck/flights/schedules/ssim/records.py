"""IATA SSIM chapter 7 records: where each field sits, and reading and writing its values.

Every record is 200 bytes; positions are the manual's 1-based, inclusive byte numbers. The
parser reads fields with `Field.read` and turns their text into values with the `read_*`
functions, which raise `FieldError` with a reason naming the field; the export writes values
back with the `format_*` functions and `RecordBuilder`. SSM messages (ssm/parser.py) reuse the
date, time and days codecs.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

RECORD_LENGTH = 200
BLOCK_RECORDS = 5  # records per 1,000-byte physical block, padded with zero filler records
FILLER = "0" * RECORD_LENGTH
HEADER_TITLE = "AIRLINE STANDARD SCHEDULE DATA SET"
OPEN_ENDED_DATE = "00XXX00"
MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
MAX_UTC_OFFSET_MINUTES = 14 * 60
MAX_SERIAL = 999_999


class FieldError(ValueError):
    """A field failed validation; the message is the rejection reason and names the field."""


@dataclass(frozen=True)
class Field:
    name: str
    first: int
    last: int

    @property
    def width(self) -> int:
        return self.last - self.first + 1

    def read(self, record: str) -> str:
        return record[self.first - 1 : self.last]


# --- record type 1: header ----------------------------------------------------------------
HEADER_TITLE_FIELD = Field("title of contents", 2, 35)
NUMBER_OF_SEASONS = Field("number of seasons", 41, 41)
DATA_SET_SERIAL = Field("data set serial number", 192, 194)

# --- record type 2: carrier ---------------------------------------------------------------
TIME_MODE = Field("time mode", 2, 2)
AIRLINE = Field("airline designator", 3, 5)
SEASON = Field("season", 11, 13)
VALIDITY_FROM = Field("period of schedule validity from", 15, 21)
VALIDITY_TO = Field("period of schedule validity to", 22, 28)
CREATION_DATE = Field("creation date", 29, 35)
TITLE_OF_DATA = Field("title of data", 36, 64)
SCHEDULE_STATUS = Field("schedule status", 72, 72)
CREATION_TIME = Field("creation time", 191, 194)

# --- record type 3: flight leg ------------------------------------------------------------
OPERATIONAL_SUFFIX = Field("operational suffix", 2, 2)
FLIGHT_NUMBER = Field("flight number", 6, 9)
ITINERARY_VARIATION = Field("itinerary variation", 10, 11)
LEG_SEQUENCE = Field("leg sequence number", 12, 13)
SERVICE_TYPE = Field("service type", 14, 14)
PERIOD_FROM = Field("period from", 15, 21)
PERIOD_TO = Field("period to", 22, 28)
DAYS_OF_OPERATION = Field("days of operation", 29, 35)
FREQUENCY_RATE = Field("frequency rate", 36, 36)
DEPARTURE_STATION = Field("departure station", 37, 39)
PASSENGER_STD = Field("departure time (passenger STD)", 40, 43)
AIRCRAFT_STD = Field("aircraft STD", 44, 47)
DEPARTURE_VARIATION = Field("departure UTC variation", 48, 52)
DEPARTURE_TERMINAL = Field("departure terminal", 53, 54)
ARRIVAL_STATION = Field("arrival station", 55, 57)
AIRCRAFT_STA = Field("aircraft STA", 58, 61)
PASSENGER_STA = Field("arrival time (passenger STA)", 62, 65)
ARRIVAL_VARIATION = Field("arrival UTC variation", 66, 70)
ARRIVAL_TERMINAL = Field("arrival terminal", 71, 72)
AIRCRAFT_TYPE = Field("aircraft type", 73, 75)
BOOKING_DESIGNATORS = Field("passenger reservations booking designator", 76, 95)
ITINERARY_VARIATION_OVERFLOW = Field("itinerary variation overflow", 128, 128)
ONWARD_AIRLINE = Field("onward flight airline designator", 138, 140)
ONWARD_NUMBER = Field("onward flight number", 141, 144)
ONWARD_SUFFIX = Field("onward flight operational suffix", 146, 146)
OPERATING_DISCLOSURE = Field("operating airline disclosure", 149, 149)
TRAFFIC_RESTRICTION = Field("traffic restriction code", 150, 160)
TRAFFIC_RESTRICTION_OVERFLOW = Field("traffic restriction code leg overflow indicator", 161, 161)
CONFIGURATION = Field("aircraft configuration/version", 173, 192)
DATE_VARIATION = Field("date variation", 193, 194)
RECORD_SERIAL = Field("record serial number", 195, 200)

# --- record type 4: segment data (same 2-14 as type 3) -------------------------------------
SEGMENT_IVI_OVERFLOW = Field("itinerary variation overflow", 28, 28)
BOARD_POINT_INDICATOR = Field("board point indicator", 29, 29)
OFF_POINT_INDICATOR = Field("off point indicator", 30, 30)
DATA_ELEMENT_IDENTIFIER = Field("data element identifier", 31, 33)
BOARD_POINT = Field("board point", 34, 36)
OFF_POINT = Field("off point", 37, 39)
SEGMENT_DATA = Field("data", 40, 194)

# --- record type 5: trailer ---------------------------------------------------------------
RELEASE_DATE = Field("release date", 6, 12)
SERIAL_CHECK = Field("serial number check reference", 188, 193)
END_CODE = Field("continuation/end code", 194, 194)


@dataclass(frozen=True)
class Format:
    pattern: re.Pattern[str]
    description: str


AIRLINE_FORMAT = Format(re.compile(r"[A-Z0-9]{2}[A-Z]?"), "a 2-3 character airline designator")
FLIGHT_NUMBER_FORMAT = Format(re.compile(r"[0-9]{1,4}"), "a 1-4 digit flight number")
TWO_DIGITS = Format(re.compile(r"[0-9]{2}"), "two digits")
LETTER = Format(re.compile(r"[A-Z]"), "one uppercase letter")
STATION = Format(re.compile(r"[A-Z]{3}"), "3 uppercase letters")
AIRCRAFT_TYPE_FORMAT = Format(re.compile(r"[A-Z0-9]{3}"), "a 3 character IATA aircraft type")
TIME_FORMAT = Format(re.compile(r"([01][0-9]|2[0-3])[0-5][0-9]"), "a valid HHMM time")
UTC_OFFSET_FORMAT = Format(re.compile(r"[+-][0-9]{2}[0-5][0-9]"), "+HHMM or -HHMM")
DATE_FORMAT = Format(re.compile(r"[0-9]{2}[A-Z]{3}[0-9]{2}"), "a DDMMMYY date")
DATE_VARIATION_FORMAT = Format(re.compile(r"[0-9A]"), "a digit or A (day before)")
_FLIGHT_DESIGNATOR = re.compile(r"([A-Z0-9]{2}[A-Z]?)\s*0*([0-9]{1,4})([A-Z]?)")


def match(name: str, expected: Format, raw: str) -> str:
    if not expected.pattern.fullmatch(raw):
        raise FieldError(f"{name}: {raw!r} is not {expected.description}")
    return raw


def read_date(name: str, raw: str, default_year: int | None = None) -> dt.date:
    """DDMMMYY (or DDMMM with `default_year`, as SSM allows) as a date."""
    if default_year is not None and re.fullmatch(r"[0-9]{2}[A-Z]{3}", raw):
        raw = f"{raw}{default_year % 100:02d}"
    match(name, DATE_FORMAT, raw)
    month = raw[2:5]
    if month not in MONTHS:
        raise FieldError(f"{name}: {raw!r} is not a valid calendar date")
    try:
        # Parsed by hand because strptime's month names follow the process locale.
        return dt.date(2000 + int(raw[5:7]), MONTHS.index(month) + 1, int(raw[0:2]))
    except ValueError:
        raise FieldError(f"{name}: {raw!r} is not a valid calendar date") from None


def format_date(day: dt.date) -> str:
    return f"{day.day:02d}{MONTHS[day.month - 1]}{day.year % 100:02d}"


def read_days(name: str, raw: str) -> str:
    """SSIM's positional mask (" 2 4 6 ") as FlightDeck's digits ("246")."""
    for position, char in enumerate(raw, start=1):
        if char not in (" ", str(position)):
            raise FieldError(
                f"{name}: {raw!r} has {char!r} at position {position}, expected {position} or blank"
            )
    days = raw.replace(" ", "")
    if not days:
        raise FieldError(f"{name}: all blank, the leg never operates")
    return days


def format_days(days: str) -> str:
    return "".join(str(day) if str(day) in days else " " for day in range(1, 8))


def shift_days(days: str, shift: int) -> str:
    """The weekdays `shift` days later (earlier when negative)."""
    return "".join(sorted(str((int(day) - 1 + shift) % 7 + 1) for day in days))


def read_time(name: str, raw: str) -> dt.time:
    match(name, TIME_FORMAT, raw)
    return dt.time(int(raw[:2]), int(raw[2:]))


def format_time(clock: dt.time) -> str:
    return f"{clock.hour:02d}{clock.minute:02d}"


def read_utc_offset(name: str, raw: str) -> int:
    """+HHMM / -HHMM as signed minutes."""
    match(name, UTC_OFFSET_FORMAT, raw)
    minutes = int(raw[1:3]) * 60 + int(raw[3:5])
    if minutes > MAX_UTC_OFFSET_MINUTES:
        raise FieldError(f"{name}: {raw!r} is beyond +/-14:00")
    return -minutes if raw[0] == "-" else minutes


def format_utc_offset(minutes: int) -> str:
    sign = "-" if minutes < 0 else "+"
    hours, rest = divmod(abs(minutes), 60)
    return f"{sign}{hours:02d}{rest:02d}"


def read_date_variation(name: str, raw: str) -> int:
    match(name, DATE_VARIATION_FORMAT, raw)
    return -1 if raw == "A" else int(raw)


def format_date_variation(days: int) -> str:
    if not -1 <= days <= 9:
        raise ValueError(f"a date variation is -1..9 days, not {days}")
    return "A" if days == -1 else str(days)


def read_flight_designator(name: str, raw: str) -> str:
    """ "KL 1597", "KL01597" or "KL1597" as FlightDeck's "KL1597"."""
    found = _FLIGHT_DESIGNATOR.fullmatch(raw.strip())
    if found is None:
        raise FieldError(f"{name}: {raw.strip()!r} is not a flight designator")
    airline, number, suffix = found.groups()
    return f"{airline}{int(number)}{suffix}"


def split_flight_number(flight_number: str) -> tuple[str, int, str]:
    """FlightDeck's "FD101" (or "FDA12B") as (airline designator, number, suffix)."""
    found = re.fullmatch(
        r"([A-Z]{3}|[A-Z]{2}|[A-Z][0-9]|[0-9][A-Z])([0-9]{1,4})([A-Z]?)", flight_number
    )
    if found is None:
        raise ValueError(f"{flight_number!r} is not a flight number")
    return found.group(1), int(found.group(2)), found.group(3)


class RecordBuilder:
    """One 200-byte record being written: blanks, with fields put in place."""

    def __init__(self, record_type: str) -> None:
        self._chars = [" "] * RECORD_LENGTH
        self._chars[0] = record_type

    def put(self, field: Field, text: str, *, right: bool = False) -> RecordBuilder:
        if len(text) > field.width:
            raise ValueError(f"{field.name}: {text!r} is longer than {field.width} bytes")
        padded = text.rjust(field.width) if right else text.ljust(field.width)
        self._chars[field.first - 1 : field.last] = padded
        return self

    def text(self, serial: int) -> str:
        self.put(RECORD_SERIAL, f"{(serial - 1) % MAX_SERIAL + 1:06d}")
        return "".join(self._chars)
