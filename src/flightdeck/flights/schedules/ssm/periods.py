"""Periods of flight dates, and cutting a schedule's period by a message's.

A leg's schedule is stored in its own local departure dates; an SSM message names the
flight's dates (its first leg's). `FlightPeriod` is a period in flight dates: first and last
date and the weekdays it flies. `split` cuts a schedule's period into the dates a message
covers and the rest, each piece again a period (no date is lost or added: a piece's dates are
exactly the dates it stands for).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta

from flightdeck.flights.schedules.generation import operating_dates
from flightdeck.flights.schedules.schemas import ScheduleCreate
from flightdeck.flights.schedules.ssim.records import shift_days


@dataclass(frozen=True)
class FlightPeriod:
    first: date
    last: date
    days: str

    def dates(self) -> list[date]:
        return operating_dates(self.days, self.first, self.last)

    def shifted(self, days: int) -> FlightPeriod:
        step = timedelta(days=days)
        return FlightPeriod(self.first + step, self.last + step, shift_days(self.days, days))


def period_of(dates: Iterable[date]) -> FlightPeriod | None:
    """The tightest period standing for exactly these dates (taken from one period)."""
    ordered = sorted(dates)
    if not ordered:
        return None
    days = "".join(sorted({str(day.isoweekday()) for day in ordered}))
    return FlightPeriod(ordered[0], ordered[-1], days)


def leg_period(definition: ScheduleCreate) -> FlightPeriod:
    """The flight dates of a leg's schedule."""
    own = FlightPeriod(definition.valid_from, definition.valid_to, definition.days_of_week)
    return own.shifted(-definition.departure_day_offset)


def with_period(
    definition: ScheduleCreate, period: FlightPeriod, **changes: object
) -> ScheduleCreate:
    """The leg's definition flying on the period's flight dates (and other changes)."""
    offset = changes.get("departure_day_offset", definition.departure_day_offset)
    own = period.shifted(int(offset))  # type: ignore[call-overload]
    fields = {
        **definition.model_dump(),
        **changes,
        "valid_from": own.first,
        "valid_to": own.last,
        "days_of_week": own.days,
    }
    return ScheduleCreate.model_validate(fields)


@dataclass(frozen=True)
class Split:
    """A schedule's flight dates cut by a message: the dates it covers, and the others."""

    inside: FlightPeriod | None
    outside: list[FlightPeriod]


def split(period: FlightPeriod, message: Iterable[date], bounds: tuple[date, date]) -> Split:
    """`period`'s dates that are among `message`'s dates (which lie within `bounds`), and the
    others as up to three periods: before the bounds, within them, after them."""
    covered = set(message)
    first, last = bounds
    dates = period.dates()
    pieces = (
        [d for d in dates if d < first],
        [d for d in dates if first <= d <= last and d not in covered],
        [d for d in dates if d > last],
    )
    outside = [p for p in (period_of(piece) for piece in pieces) if p is not None]
    return Split(period_of(d for d in dates if d in covered), outside)
