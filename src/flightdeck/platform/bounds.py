"""The bounds every amount, count, date and instant is held to at the edge.

Anything outside them is a 422 naming the field, before it reaches date arithmetic, a time-zone
conversion or the database: an integer beyond 64 bits, a total that overflows once multiplied
by passengers, or a date next to year 1 or 9999 would otherwise surface as a 500. Domains use
these types in their request schemas instead of bare `int`, `date` and `datetime`.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime, Field

from flightdeck.platform.clock import utcnow

# One price (a fare per passenger and segment, a payment's amount) in minor units: ten
# billion in major units covers a first-class fare in any currency (Indonesian rupiah
# included). Totals multiply a fare by at most 9 passengers and 4 segments, so they stay
# below MAX_TOTAL, which is exact as a JSON number in every client (2^53) and far from the
# 64-bit columns' limit.
MAX_AMOUNT = 10**12
MAX_TOTAL = 10**14

Amount = Annotated[
    int,
    Field(ge=0, le=MAX_AMOUNT, description=f"Integer minor units, at most {MAX_AMOUNT:,}"),
]
TotalAmount = Annotated[
    int,
    Field(ge=0, le=MAX_TOTAL, description=f"Integer minor units, at most {MAX_TOTAL:,}"),
]

# Flights, their statuses and searches live within two years of today: airlines sell about a
# year ahead and file the next seasons' schedules, and keep last year's flights for reports
# and late status records. A date further out is a typo (2062 for 2026) or a probe.
FLIGHT_WINDOW = timedelta(days=731)
FLIGHT_WINDOW_TEXT = "within two years of today"

# Nobody alive was born more than 130 years ago.
OLDEST_BIRTH = timedelta(days=130 * 366)

# Any other calendar date (report periods, filters): far enough from year 1 and 9999 that a
# day or a time zone either side is still a valid date.
EARLIEST_DATE = date(1900, 1, 1)
LATEST_DATE = date(2199, 12, 31)


def flight_window() -> tuple[datetime, datetime]:
    """The earliest and latest instant a flight, a status or a search may name now."""
    now = utcnow()
    return now - FLIGHT_WINDOW, now + FLIGHT_WINDOW


def _flight_date(value: date) -> date:
    earliest, latest = flight_window()
    if not earliest.date() <= value <= latest.date():
        raise ValueError(
            f"must be {FLIGHT_WINDOW_TEXT} ({earliest.date().isoformat()} to "
            f"{latest.date().isoformat()})"
        )
    return value


def _flight_instant(value: datetime) -> datetime:
    earliest, latest = flight_window()
    try:
        in_utc = value.astimezone(UTC)
    except OverflowError:  # an offset pushes it past year 1 or 9999
        in_utc = None
    if in_utc is None or not earliest <= in_utc <= latest:
        raise ValueError(
            f"must be {FLIGHT_WINDOW_TEXT} ({earliest.date().isoformat()} to "
            f"{latest.date().isoformat()})"
        )
    return value


def _birth_date(value: date) -> date:
    today = utcnow().date()
    if value > today:
        raise ValueError("must not be in the future")
    if value < today - OLDEST_BIRTH:
        raise ValueError("must be within the last 130 years")
    return value


def _calendar_date(value: date) -> date:
    if not EARLIEST_DATE <= value <= LATEST_DATE:
        raise ValueError(
            f"must be between {EARLIEST_DATE.isoformat()} and {LATEST_DATE.isoformat()}"
        )
    return value


FlightDate = Annotated[
    date,
    AfterValidator(_flight_date),
    Field(description=f"A calendar date {FLIGHT_WINDOW_TEXT}"),
]
FlightInstant = Annotated[
    AwareDatetime,
    AfterValidator(_flight_instant),
    Field(description=f"ISO 8601 with an offset, {FLIGHT_WINDOW_TEXT}"),
]
BirthDate = Annotated[
    date, AfterValidator(_birth_date), Field(description="Not in the future, nor 130 years ago")
]
CalendarDate = Annotated[
    date,
    AfterValidator(_calendar_date),
    Field(description=f"Between {EARLIEST_DATE.isoformat()} and {LATEST_DATE.isoformat()}"),
]
