"""Import of IATA SSIM (chapter 7) files: one schedule per flight leg and period.

Decisions:
* Times are converted with the airports' IANA zones, as everywhere else. A leg whose stated
  UTC variation disagrees with its airport's zone on the first day of the period still loads,
  with a warning. In a UTC-mode file ("U") the stated variation turns the times into local ones.
* Cabins come from the leg's aircraft configuration/version (bytes 173-192, e.g. "J42W24Y302";
  F/A/P first, J/C/D/I/Z business, W/E premium economy, any other letter economy). Without a
  readable one, `DEFAULT_IMPORT_CABINS` applies. Fares are the default fare (form field
  `default_fare_amount`, `currency`) times `FARE_MULTIPLIERS` of the cabin.
* A leg matching an existing schedule on (flight number, origin, period, days) is skipped, so
  importing a file twice creates nothing new; a dated flight whose (flight number, service
  date) is taken is skipped too (same-day legs of a multi-leg flight share that key, so only
  the first of them is loaded).
* One `schedule.changed` event (action "imported") lists the schedules an import created.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from flightdeck.flights import repository as flights_repo
from flightdeck.flights.airports import find_airport, get_airport
from flightdeck.flights.models import Flight, Schedule
from flightdeck.flights.schedules import repository as repo
from flightdeck.flights.schedules.schemas import (
    ImportRejection,
    ImportWarning,
    ScheduleCreate,
    ScheduleImportResult,
)
from flightdeck.flights.schedules.service import (
    SCHEDULE_CHANGED,
    ArrivalNotAfterDeparture,
    BlockTimeTooLong,
    DatedTimes,
    dated_times,
    new_schedule,
    plan_flights,
    store_flights,
)
from flightdeck.flights.schedules.ssim import SsimLeg, parse_ssim
from flightdeck.platform.audit import record_audit
from flightdeck.platform.clock import utcnow
from flightdeck.platform.db import new_id
from flightdeck.platform.errors import AppError, Unprocessable
from flightdeck.platform.events.outbox import record_event
from flightdeck.platform.security.auth import Principal

MAX_IMPORT_BYTES = 5 * 1024 * 1024
# One request must stay bounded: a file generating more flights must be split.
MAX_IMPORT_FLIGHTS = 200_000
DEFAULT_FARE_AMOUNT = 10_000
DEFAULT_CURRENCY = "USD"
DEFAULT_IMPORT_CABINS: dict[str, int] = {"economy": 150}
FARE_MULTIPLIERS: dict[str, int] = {"economy": 1, "premium_economy": 2, "business": 4, "first": 6}
_COMPARTMENTS = {
    **dict.fromkeys("FAP", "first"),
    **dict.fromkeys("JCDIZ", "business"),
    **dict.fromkeys("WE", "premium_economy"),
}
_CONFIGURATION = re.compile(r"(?:[A-Z]\d{1,3})+")
_CONFIGURATION_PART = re.compile(r"([A-Z])(\d{1,3})")
_CONFIGURATION_BYTES = slice(172, 192)


class PayloadTooLargeError(AppError):
    status_code = 413
    code = "payload_too_large"
    message = f"The file is larger than {MAX_IMPORT_BYTES // (1024 * 1024)} MB"


class NotSsim(Unprocessable):
    code = "invalid_ssim"
    message = "The file is not an IATA SSIM schedule: no carrier or flight leg record found"


class ImportTooLarge(Unprocessable):
    code = "import_too_large"


class _RejectedLegError(ValueError):
    """The leg cannot become a schedule; the message is the reason."""


@dataclass(frozen=True)
class _Candidate:
    line_number: int
    definition: ScheduleCreate
    dated: list[DatedTimes]


@dataclass
class _Batch:
    candidates: list[_Candidate] = field(default_factory=list)
    rejected: list[ImportRejection] = field(default_factory=list)
    warnings: list[ImportWarning] = field(default_factory=list)

    def warn(self, line_number: int, warning: str) -> None:
        self.warnings.append(ImportWarning(line_number=line_number, warning=warning))


async def import_ssim(
    session: AsyncSession,
    content: bytes,
    actor: Principal,
    *,
    default_fare_amount: int | None = None,
    currency: str | None = None,
) -> ScheduleImportResult:
    """Loads the good legs of an SSIM file; bad lines are rejected with their line number."""
    if len(content) > MAX_IMPORT_BYTES:
        raise PayloadTooLargeError()
    text = _decode(content)
    parsed = parse_ssim(text)
    if not parsed.legs and not parsed.carriers:
        raise NotSsim(details={"rejected": [vars(r) for r in parsed.rejected[:20]]})
    batch = _Batch(
        rejected=[
            ImportRejection(line_number=r.line_number, reason=r.reason) for r in parsed.rejected
        ]
    )
    fare = (
        default_fare_amount if default_fare_amount is not None else DEFAULT_FARE_AMOUNT,
        currency or DEFAULT_CURRENCY,
    )
    # Numbered as parse_ssim numbers them, to read the bytes SsimLeg does not carry.
    lines = text.removeprefix("\ufeff").split("\n")
    for leg in parsed.legs:
        _read_leg(leg, parsed.time_mode, lines[leg.line_number - 1], fare, batch)
    fresh, skipped_count = await _without_existing_schedules(session, batch)
    flights_created, flights_skipped = await _store(session, fresh, batch, actor)
    return ScheduleImportResult(
        schedules_created=len(fresh),
        schedules_skipped=skipped_count,
        flights_created=flights_created,
        flights_skipped=flights_skipped,
        rejected=sorted(batch.rejected, key=lambda r: r.line_number),
        warnings=sorted(batch.warnings, key=lambda w: w.line_number),
        carriers=parsed.carriers,
        time_mode=parsed.time_mode,
    )


def _decode(content: bytes) -> str:
    try:
        return content.decode("utf-8")
    except UnicodeDecodeError:
        # Older SSIM exports are ISO 8859-1; every byte string decodes as latin-1.
        return content.decode("latin-1")


def _read_leg(
    leg: SsimLeg, time_mode: str | None, line: str, fare: tuple[int, str], batch: _Batch
) -> None:
    try:
        definition = _leg_definition(leg, time_mode, _cabins(line, fare))
        dated = dated_times(definition)
    except _RejectedLegError as rejection:
        batch.rejected.append(ImportRejection(line_number=leg.line_number, reason=str(rejection)))
        return
    except (ArrivalNotAfterDeparture, BlockTimeTooLong) as error:
        batch.rejected.append(ImportRejection(line_number=leg.line_number, reason=error.message))
        return
    for warning in _variation_warnings(leg, definition):
        batch.warn(leg.line_number, warning)
    batch.candidates.append(_Candidate(leg.line_number, definition, dated))


def _leg_definition(
    leg: SsimLeg, time_mode: str | None, cabins: dict[str, dict[str, object]]
) -> ScheduleCreate:
    for which, code in (("departure station", leg.origin), ("arrival station", leg.destination)):
        if find_airport(code) is None:
            raise _RejectedLegError(f"{which}: unknown airport {code!r}")
    if time_mode == "U":
        shift, departure_local = _utc_to_local(
            leg.departure_local, leg.departure_utc_offset_minutes
        )
        arrival_shift, arrival_local = _utc_to_local(
            leg.arrival_local, leg.arrival_utc_offset_minutes
        )
    else:
        shift, departure_local = 0, leg.departure_local
        arrival_shift, arrival_local = 0, leg.arrival_local
    try:
        return ScheduleCreate.model_validate(
            {
                "flight_number": leg.flight_number,
                "origin": leg.origin,
                "destination": leg.destination,
                "departure_local": departure_local,
                "arrival_local": arrival_local,
                "arrival_day_offset": leg.arrival_day_offset + arrival_shift - shift,
                "days_of_week": _shift_days(leg.days_of_week, shift),
                "valid_from": leg.period_from + timedelta(days=shift),
                "valid_to": leg.period_to + timedelta(days=shift),
                "aircraft": leg.aircraft_type,
                "cabins": cabins,
            }
        )
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise _RejectedLegError(f"{where}: {first['msg']}" if where else first["msg"]) from None


def _utc_to_local(utc_time: time, offset_minutes: int) -> tuple[int, time]:
    """(days the local date is after the UTC date, local time) for a stated UTC variation."""
    days, minutes = divmod(utc_time.hour * 60 + utc_time.minute + offset_minutes, 24 * 60)
    return days, time(minutes // 60, minutes % 60)


def _shift_days(days_of_week: str, shift: int) -> str:
    return "".join(sorted(str((int(day) - 1 + shift) % 7 + 1) for day in days_of_week))


def _cabins(line: str, fare: tuple[int, str]) -> dict[str, dict[str, object]]:
    """Seats per cabin from the aircraft configuration/version, else the default cabins."""
    seats: dict[str, int] = {}
    configuration = line.ljust(200)[_CONFIGURATION_BYTES].strip()
    if _CONFIGURATION.fullmatch(configuration):
        for letter, count in _CONFIGURATION_PART.findall(configuration):
            cabin = _COMPARTMENTS.get(letter, "economy")
            seats[cabin] = seats.get(cabin, 0) + int(count)
    amount, currency = fare
    return {
        cabin: {
            "seats": count,
            "fare": {"amount": amount * FARE_MULTIPLIERS[cabin], "currency": currency},
        }
        for cabin, count in (seats or DEFAULT_IMPORT_CABINS).items()
    }


def _variation_warnings(leg: SsimLeg, definition: ScheduleCreate) -> list[str]:
    """Warnings where the file's UTC variation is not the zone's on the period's first day."""
    arrival_day = definition.valid_from + timedelta(days=definition.arrival_day_offset)
    ends = (
        (
            "departure",
            leg.origin,
            definition.valid_from,
            definition.departure_local,
            leg.departure_utc_offset_minutes,
        ),
        (
            "arrival",
            leg.destination,
            arrival_day,
            definition.arrival_local,
            leg.arrival_utc_offset_minutes,
        ),
    )
    warnings = []
    for which, code, day, local_time, stated in ends:
        zone = get_airport(code).zone
        offset = zone.utcoffset(datetime.combine(day, local_time))
        actual = int(offset.total_seconds() // 60) if offset is not None else 0
        if actual != stated:
            warnings.append(
                f"{which} UTC variation {_format_offset(stated)} at {code} differs from "
                f"{zone.key} ({_format_offset(actual)} on {day.isoformat()}); "
                "times were converted with the airport's time zone"
            )
    return warnings


def _format_offset(minutes: int) -> str:
    sign = "-" if minutes < 0 else "+"
    hours, rest = divmod(abs(minutes), 60)
    return f"{sign}{hours:02d}{rest:02d}"


ScheduleKey = tuple[str, str, date, date, str]


def _schedule_key(schedule: ScheduleCreate | Schedule) -> ScheduleKey:
    return (
        schedule.flight_number,
        schedule.origin,
        schedule.valid_from,
        schedule.valid_to,
        schedule.days_of_week,
    )


def _timing(schedule: ScheduleCreate | Schedule) -> tuple[str, time, time, int]:
    return (
        schedule.destination,
        schedule.departure_local,
        schedule.arrival_local,
        schedule.arrival_day_offset,
    )


async def _without_existing_schedules(
    session: AsyncSession, batch: _Batch
) -> tuple[list[_Candidate], int]:
    """The candidates no stored schedule (or earlier line) already covers, and how many did."""
    numbers = [c.definition.flight_number for c in batch.candidates]
    known: dict[ScheduleKey, tuple[str, tuple[str, time, time, int]]] = {
        _schedule_key(s): (f"schedule {s.id}", _timing(s))
        for s in await repo.find_schedules_for_flight_numbers(session, numbers)
    }
    fresh: list[_Candidate] = []
    for candidate in batch.candidates:
        definition = candidate.definition
        key = _schedule_key(definition)
        match = known.get(key)
        if match is None:
            known[key] = (f"line {candidate.line_number}", _timing(definition))
            fresh.append(candidate)
            continue
        where, timing = match
        differs = "" if timing == _timing(definition) else " with other times, not changed"
        batch.warn(
            candidate.line_number,
            f"{definition.flight_number} {definition.origin} {definition.valid_from}"
            f"..{definition.valid_to} days {definition.days_of_week} is already scheduled "
            f"({where}){differs}; leg skipped",
        )
    return fresh, len(batch.candidates) - len(fresh)


async def _store(
    session: AsyncSession, fresh: list[_Candidate], batch: _Batch, actor: Principal
) -> tuple[int, int]:
    """Stores the schedules and their future flights; returns (created, skipped) flights."""
    if not fresh:
        return 0, 0
    schedules = [new_schedule(c.definition, source="ssim", created_by=actor.user_id) for c in fresh]
    taken = await flights_repo.find_flight_keys(
        session,
        {c.definition.flight_number for c in fresh},
        min(c.definition.valid_from for c in fresh),
        max(c.definition.valid_to for c in fresh),
    )
    flights, skipped = _plan(schedules, fresh, taken, batch)
    if len(flights) > MAX_IMPORT_FLIGHTS:
        raise ImportTooLarge(
            f"The file would generate {len(flights)} flights, at most {MAX_IMPORT_FLIGHTS} "
            "per import: split it by period or carrier"
        )
    await repo.add_schedules(session, schedules)
    await store_flights(session, flights)
    import_id = new_id()
    await record_audit(
        session,
        action="import",
        entity="schedule_import",
        entity_id=import_id,
        after={
            "schedule_ids": [s.id for s in schedules],
            "schedules_created": len(schedules),
            "flights_created": len(flights),
        },
    )
    await record_event(
        session,
        SCHEDULE_CHANGED,
        aggregate_type="schedule",
        aggregate_id=import_id,
        payload={
            "action": "imported",
            "schedule_ids": [s.id for s in schedules],
            "flights_created": len(flights),
        },
        actor_id=actor.user_id,
    )
    return len(flights), skipped


def _plan(
    schedules: list[Schedule],
    fresh: list[_Candidate],
    taken: set[tuple[str, date]],
    batch: _Batch,
) -> tuple[list[Flight], int]:
    """All the new schedules' flights, and how many dates were skipped."""
    now = utcnow()
    flights: list[Flight] = []
    skipped = 0
    for schedule, candidate in zip(schedules, fresh, strict=True):
        plan = plan_flights(schedule.id, candidate.definition, candidate.dated, taken, now)
        flights.extend(plan.flights)
        skipped += len(plan.skipped)
        taken_dates = sum(1 for s in plan.skipped if s.reason == "flight_exists")
        if taken_dates:
            batch.warn(
                candidate.line_number,
                f"{taken_dates} date(s) skipped: {candidate.definition.flight_number} already "
                "has a flight on those service dates",
            )
    return flights, skipped
