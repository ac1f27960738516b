"""Parser of IATA SSM (Standard Schedules Message, SSIM chapter 4) text.

A message is::

    SSM                       (lines before it, e.g. teletype addresses, are passed over)
    UTC | LT                  time mode of every time and date below
    23MAY00042E001/REF        optional message reference
    NEW [XASM]                action: NEW, CNL, RIN, TIM, EQT or RPL
    FD101                     flight designator
    01JUN 30JUN 1234567       one or more periods: from, to, days (digits; "." for none)
    J 320 C12Y138             equipment (NEW, EQT, RPL): service type, aircraft type, and
                              the configuration/version, or booking designators "." the
                              configuration/version (J 320 CY.C12Y138)
    AMS0700 LHR0715           one line per leg (NEW, TIM, RPL): departure station and time,
    LHR0900/1 JFK1130/1       arrival station and time; "/n" the days after the flight date
    AMSJFK 8/A                segment data: board and off point, data element / data
    SI free text              supplementary information, passed over
    //                        the next action of the same message follows

Dates are DDMMM or DDMMMYY; without a year, the nearest such date to today. Data elements read
from segment lines: 2 and 9 (operating carrier), 50 (operating flight), 8 and 170 (traffic
restriction code of the segment). Any other line is a syntax error: `SsmSyntaxError` names its
line and what was expected there.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from dataclasses import dataclass, field

from flightdeck.flights.schedules.ssim.records import MONTHS

ACTIONS = ("NEW", "CNL", "RIN", "TIM", "EQT", "RPL")
_NEEDS_EQUIPMENT = frozenset({"NEW", "EQT", "RPL"})
_NEEDS_LEGS = frozenset({"NEW", "TIM", "RPL"})
_ACTION = re.compile(r"(?P<action>[A-Z]{3})(?: XASM)?")
_FLIGHT = re.compile(r"(?P<airline>[A-Z0-9]{2}[A-Z]?)(?P<number>[0-9]{1,4})(?P<suffix>[A-Z]?)")
_DATE = r"[0-9]{2}[A-Z]{3}(?:[0-9]{2})?"
_PERIOD = re.compile(
    rf"(?P<first>{_DATE}) (?P<last>{_DATE}) (?P<days>[1-7.]{{1,7}})(?P<rate>/W[0-9])?"
)
_EQUIPMENT = re.compile(r"(?P<service>[A-Z]) (?P<aircraft>[A-Z0-9]{3}) (?P<config>\S+)(?: .*)?")
_TIME = r"(?:[01][0-9]|2[0-3])[0-5][0-9]"
_LEG = re.compile(
    rf"(?P<origin>[A-Z]{{3}})(?P<departure>{_TIME})(?:/(?P<departure_day>[0-9A]))? "
    rf"(?P<destination>[A-Z]{{3}})(?P<arrival>{_TIME})(?:/(?P<arrival_day>[0-9A]))?(?: .*)?"
)
_SEGMENT = re.compile(r"(?P<board>[A-Z]{3})(?P<off>[A-Z]{3}) (?P<dei>[0-9]{1,3})/(?P<data>\S.*)")
_REFERENCE = re.compile(r"[0-9]{2}[A-Z]{3}[0-9]{5}[CE][0-9]{3}(?:/.*)?")
_ACV = re.compile(r"(?:[A-Z][0-9]{1,3})+(?:VV[A-Z0-9]*)?|VV[A-Z0-9]*")


class SsmSyntaxError(ValueError):
    def __init__(self, line_number: int, reason: str) -> None:
        super().__init__(f"line {line_number}: {reason}")
        self.line_number = line_number
        self.reason = reason


@dataclass(frozen=True)
class SsmPeriod:
    line_number: int
    first: dt.date
    last: dt.date
    days: str


@dataclass(frozen=True)
class SsmEquipment:
    line_number: int
    service_type: str
    aircraft_type: str
    configuration: str


@dataclass(frozen=True)
class SsmLeg:
    line_number: int
    origin: str
    departure: dt.time
    departure_day: int
    destination: str
    arrival: dt.time
    arrival_day: int | None


@dataclass(frozen=True)
class SsmSegment:
    line_number: int
    board: str
    off: str
    identifier: int
    data: str


@dataclass
class SsmMessage:
    """One action of a message, with what it applies to."""

    line_number: int
    action: str
    time_mode: str
    flight_number: str = ""
    periods: list[SsmPeriod] = field(default_factory=list)
    equipment: SsmEquipment | None = None
    legs: list[SsmLeg] = field(default_factory=list)
    segments: list[SsmSegment] = field(default_factory=list)


def parse_ssm(text: str, today: dt.date) -> list[SsmMessage]:
    """The actions of the message text, in order; `SsmSyntaxError` at the first bad line."""
    lines = [(n, line.strip()) for n, line in enumerate(text.splitlines(), start=1)]
    lines = [(n, line) for n, line in lines if line]
    start = next((i for i, (_, line) in enumerate(lines) if line == "SSM"), None)
    body = iter(lines[start + 1 :] if start is not None else lines)
    time_mode = _time_mode(next(body, None))
    messages: list[SsmMessage] = []
    current: SsmMessage | None = None
    for number, line in body:
        if current is None:
            if not messages and _REFERENCE.fullmatch(line):
                continue
            current = _action(number, line, time_mode)
        elif line == "//":
            messages.append(_finished(current))
            current = None
        elif not line.startswith("SI ") and line != "SI":
            _add_line(current, number, line, today)
    if current is not None:
        messages.append(_finished(current))
    if not messages:
        raise SsmSyntaxError(
            lines[-1][0] if lines else 1, "no action (NEW, CNL, RIN, TIM, EQT, RPL)"
        )
    return messages


def _time_mode(line: tuple[int, str] | None) -> str:
    if line is None:
        raise SsmSyntaxError(1, "time mode: the message is empty, expected UTC or LT")
    number, text = line
    if text not in ("UTC", "LT"):
        raise SsmSyntaxError(number, f"time mode: {text!r} is not UTC or LT")
    return text


def _action(number: int, line: str, time_mode: str) -> SsmMessage:
    found = _ACTION.fullmatch(line)
    if found is None or found.group("action") not in ACTIONS:
        raise SsmSyntaxError(
            number, f"action: {line!r} is not one of {', '.join(ACTIONS)} (optionally XASM)"
        )
    return SsmMessage(number, found.group("action"), time_mode)


def _add_line(message: SsmMessage, number: int, line: str, today: dt.date) -> None:
    if not message.flight_number:
        found = _FLIGHT.fullmatch(line)
        if found is None:
            raise SsmSyntaxError(number, f"flight designator: {line!r} is not like FD101")
        message.flight_number = (
            f"{found.group('airline')}{int(found.group('number'))}{found.group('suffix')}"
        )
        return
    if (period := _PERIOD.fullmatch(line)) is not None:
        if message.equipment or message.legs or message.segments:
            raise SsmSyntaxError(number, "period: periods come right after the flight")
        message.periods.append(_period(number, period, today))
    elif (equipment := _EQUIPMENT.fullmatch(line)) is not None and not message.legs:
        message.equipment = _equipment(number, equipment)
    elif (leg := _LEG.fullmatch(line)) is not None:
        message.legs.append(_leg(number, leg))
    elif (segment := _SEGMENT.fullmatch(line)) is not None:
        message.segments.append(
            SsmSegment(
                number,
                segment.group("board"),
                segment.group("off"),
                int(segment.group("dei")),
                segment.group("data").strip(),
            )
        )
    else:
        raise SsmSyntaxError(number, _expected(message, line))


def _expected(message: SsmMessage, line: str) -> str:
    if not message.periods:
        return f"period: {line!r} is not like '01JUN 30JUN 1234567'"
    if message.action in _NEEDS_EQUIPMENT and message.equipment is None:
        return f"equipment: {line!r} is not like 'J 320 C12Y138'"
    return f"leg: {line!r} is not like 'AMS0700 LHR0715' (or segment data 'AMSLHR 8/A')"


def _date(number: int, name: str, raw: str, near: dt.date) -> dt.date:
    day, month = int(raw[:2]), raw[2:5]
    if month not in MONTHS:
        raise SsmSyntaxError(number, f"period {name}: {raw!r} has no month {month!r}")
    years = [2000 + int(raw[5:])] if len(raw) == 7 else [near.year - 1, near.year, near.year + 1]
    candidates = []
    for year in years:
        try:
            candidates.append(dt.date(year, MONTHS.index(month) + 1, day))
        except ValueError:
            continue
    if not candidates:
        raise SsmSyntaxError(number, f"period {name}: {raw!r} is not a calendar date")
    return min(candidates, key=lambda d: (abs((d - near).days), d))


def _period(number: int, found: re.Match[str], today: dt.date) -> SsmPeriod:
    if found.group("rate") not in (None, "/W1"):
        raise SsmSyntaxError(
            number, f"period: frequency {found.group('rate')!r} is not supported (every week)"
        )
    first = _date(number, "from", found.group("first"), today)
    last = _date(number, "to", found.group("last"), first)
    if last < first:
        raise SsmSyntaxError(
            number, f"period: {found.group('last')} is before {found.group('first')}"
        )
    raw_days = found.group("days")
    days = raw_days.replace(".", "")
    if not days or list(days) != sorted(set(days)):
        raise SsmSyntaxError(number, f"period days: {raw_days!r} are not ascending weekdays 1-7")
    return SsmPeriod(number, first, last, days)


def _equipment(number: int, found: re.Match[str]) -> SsmEquipment:
    token = found.group("config")
    if "." in token:
        configuration = token.split(".", 1)[1]
    elif _ACV.fullmatch(token):
        configuration = token
    elif token.isalpha():
        configuration = ""  # booking designators only: the default cabins apply
    else:
        raise SsmSyntaxError(number, f"equipment: {token!r} is not a configuration/version")
    return SsmEquipment(number, found.group("service"), found.group("aircraft"), configuration)


def _day(raw: str | None) -> int | None:
    return None if raw is None else (-1 if raw == "A" else int(raw))


def _leg(number: int, found: re.Match[str]) -> SsmLeg:
    def clock(raw: str) -> dt.time:
        return dt.time(int(raw[:2]), int(raw[2:]))

    return SsmLeg(
        number,
        found.group("origin"),
        clock(found.group("departure")),
        _day(found.group("departure_day")) or 0,
        found.group("destination"),
        clock(found.group("arrival")),
        _day(found.group("arrival_day")),
    )


def _finished(message: SsmMessage) -> SsmMessage:
    def missing(what: str) -> SsmSyntaxError:
        return SsmSyntaxError(message.line_number, f"{message.action}: {what} missing")

    if not message.flight_number:
        raise missing("the flight designator is")
    if not message.periods:
        raise missing("a period is")
    if message.action in _NEEDS_EQUIPMENT and message.equipment is None:
        raise missing("the equipment line is")
    if message.action in _NEEDS_LEGS and not message.legs:
        raise missing("a leg line is")
    return message


def iter_dates(period: SsmPeriod) -> Iterator[dt.date]:
    day = period.first
    while day <= period.last:
        if str(day.isoweekday()) in period.days:
            yield day
        day += dt.timedelta(days=1)
