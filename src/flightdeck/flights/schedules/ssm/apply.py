"""Applying SSM actions: each as the API edit it amounts to, through the schedules service.

Every action works on the flight's schedules (one per leg and period) for the flight dates of
each period of the message, one period at a time. A schedule whose dates the period partly
covers is split (`replace_schedule`): it keeps the dates outside, and the dates inside become
a schedule of their own with the change. So, as for any schedule change, only future flights
with nothing sold are removed and generated again; booked ones are kept, reported, and their
passengers told where they no longer match (service.py, kept.py).

* NEW: the flight's legs for the period (`create_schedule`); refused where an active schedule
  of the flight already flies on one of the dates (RPL replaces).
* CNL: the covered dates become a cancelled schedule (no flights; kept for a reinstatement).
* RIN: cancelled dates covered become active again, their flights generated.
* TIM: new times for the legs the message names (by their stations).
* EQT: new service type, aircraft and configuration (cabins; a cabin keeps its fare).
* RPL: the covered dates of every leg are removed (a schedule left with none is deleted), and
  the message's legs are created for them, as NEW.

Each action runs in a SAVEPOINT: one that cannot be applied (unknown airport, nothing to
cancel, …) changes nothing and is reported `rejected`; the others still apply. In a UTC-mode
message the flight's date is its first leg's UTC departure date; it is moved to FlightDeck's
local flight date, and a period is split where an airport's UTC variation changes.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from flightdeck.flights.airports import get_airport, local_to_utc
from flightdeck.flights.models import SOLD_SERVICE_TYPES, Schedule
from flightdeck.flights.schedules import service
from flightdeck.flights.schedules.schemas import (
    ScheduleCreate,
    SsmMessageResult,
    SsmResults,
)
from flightdeck.flights.schedules.ssim.configuration import read_configuration
from flightdeck.flights.schedules.ssim.legs import (
    DEFAULT_IMPORT_CABINS,
    Fares,
    LegDefinition,
    leg_definitions,
)
from flightdeck.flights.schedules.ssim.parser import SsimFlight, SsimLeg, apply_data_element
from flightdeck.flights.schedules.ssim.records import split_flight_number
from flightdeck.flights.schedules.ssm.parser import (
    SsmLeg,
    SsmMessage,
    SsmPeriod,
    SsmSyntaxError,
    iter_dates,
    parse_ssm,
)
from flightdeck.flights.schedules.ssm.periods import (
    FlightPeriod,
    leg_period,
    period_of,
    split,
    with_period,
)
from flightdeck.platform.clock import utcnow
from flightdeck.platform.errors import AppError, Unprocessable
from flightdeck.platform.security.auth import Principal

MAX_MESSAGE_BYTES = 1024 * 1024


class MalformedSsm(Unprocessable):
    code = "invalid_ssm"


class _Rejected(Unprocessable):
    code = "ssm_not_applied"


@dataclass
class _Run:
    session: AsyncSession
    actor: Principal
    fares: Fares
    message: SsmMessage
    result: SsmMessageResult


async def apply_ssm(
    session: AsyncSession, text: str, actor: Principal, *, fares: Fares
) -> SsmResults:
    """Parses the message (422 `invalid_ssm` naming the first bad line, nothing applied) and
    applies each of its actions, reporting each."""
    if len(text.encode()) > MAX_MESSAGE_BYTES:
        raise MalformedSsm("The message is longer than 1 MB")
    try:
        messages = parse_ssm(text, utcnow().date())
    except SsmSyntaxError as error:
        raise MalformedSsm(
            str(error), details={"line_number": error.line_number, "reason": error.reason}
        ) from None
    results = []
    for index, message in enumerate(messages, start=1):
        result = _result(index, message)
        try:
            async with session.begin_nested():
                await _apply(_Run(session, actor, fares, message, result))
        except AppError as error:
            result = _result(index, message, reason=error.message)
        except ValidationError as error:  # a split piece FlightDeck cannot hold
            first = error.errors()[0]
            where = ".".join(str(part) for part in first["loc"])
            result = _result(index, message, reason=f"{where}: {first['msg']}")
        results.append(result)
    return SsmResults(time_mode=messages[0].time_mode, messages=results)


def _result(index: int, message: SsmMessage, reason: str | None = None) -> SsmMessageResult:
    return SsmMessageResult(
        index=index,
        line_number=message.line_number,
        action=message.action,
        flight_number=message.flight_number,
        status="rejected" if reason else "applied",
        reason=reason,
    )


async def _apply(run: _Run) -> None:
    for period in run.message.periods:
        if run.message.action in ("NEW", "RPL"):
            await _new(run, period, replace=run.message.action == "RPL")
        else:
            await _change(run, period)


# --- NEW and RPL ----------------------------------------------------------------------------


async def _new(run: _Run, period: SsmPeriod, *, replace: bool) -> None:
    definitions = _message_definitions(run.message, period, run.fares)
    flight_dates = {
        day for d in definitions if d.leg_sequence == 1 for day in leg_period(d).dates()
    }
    existing = await service.schedules_of_flight(run.session, run.message.flight_number)
    if replace:
        await _remove_dates(run, existing, sorted(flight_dates))
    else:
        clash = next((s for s in existing if _clashes(s, flight_dates)), None)
        if clash is not None:
            raise _Rejected(
                f"{run.message.flight_number} already flies on some of these dates (schedule "
                f"{clash.id}); RPL replaces a flight's schedule"
            )
    for definition in definitions:
        created = await service.create_schedule(run.session, definition, run.actor, source="ssm")
        run.result.schedules_created += 1
        run.result.flights_created += created.flights_created


def _clashes(schedule: Schedule, flight_dates: set[dt.date]) -> bool:
    if schedule.status != "active":
        return False
    return not flight_dates.isdisjoint(leg_period(service.definition_of(schedule)).dates())


async def _remove_dates(run: _Run, schedules: list[Schedule], dates: list[dt.date]) -> None:
    if not dates:
        return
    for schedule in schedules:
        definition = service.definition_of(schedule)
        cut = split(leg_period(definition), dates, (dates[0], dates[-1]))
        if cut.inside is None:
            continue
        if not cut.outside:
            run.result.schedules_changed += 1
            deleted = await service.delete_schedule(run.session, schedule.id, run.actor)
            run.result.flights_removed += deleted.flights_removed
            run.result.kept_flights += deleted.kept_flights
            continue
        pieces = [with_period(definition, piece) for piece in cut.outside]
        await _replace(run, schedule, pieces)


def _message_definitions(
    message: SsmMessage, period: SsmPeriod, fares: Fares
) -> list[ScheduleCreate]:
    """The message's legs as schedule definitions, per run of constant UTC variations."""
    assert message.equipment is not None  # the parser requires it for NEW and RPL
    definitions: list[ScheduleCreate] = []
    for run_period in _runs(message, period, message.legs):
        legs = [_filed_leg(message, run_period, i, leg) for i, leg in enumerate(message.legs)]
        _segment_data(message, legs)
        definitions += _definitions(leg_definitions(SsimFlight(legs), fares))
    return definitions


def _definitions(results: Sequence[LegDefinition]) -> list[ScheduleCreate]:
    for result in results:
        if result.definition is None:
            raise _Rejected(f"line {result.line_number}: {result.rejection}")
    return [result.definition for result in results if result.definition is not None]


def _filed_leg(message: SsmMessage, period: FlightPeriod, index: int, leg: SsmLeg) -> SsimLeg:
    equipment = message.equipment
    assert equipment is not None
    departure_offset, arrival_offset = _offsets(message.time_mode, leg, period.first)
    return SsimLeg(
        line_number=leg.line_number,
        airline=split_flight_number(message.flight_number)[0],
        flight_number=message.flight_number,
        itinerary_variation=None,
        leg_sequence=index + 1,
        service_type=equipment.service_type,
        period_from=period.first,
        period_to=period.last,
        days_of_week=period.days,
        origin=leg.origin,
        destination=leg.destination,
        departure=leg.departure,
        arrival=leg.arrival,
        departure_utc_offset=departure_offset,
        arrival_utc_offset=arrival_offset,
        departure_day=leg.departure_day,
        arrival_day=leg.arrival_day,
        aircraft_type=equipment.aircraft_type,
        configuration=equipment.configuration,
        time_mode="U" if message.time_mode == "UTC" else "L",
    )


def _segment_data(message: SsmMessage, legs: list[SsimLeg]) -> None:
    for segment in message.segments:
        start = next((i for i, leg in enumerate(legs) if leg.origin == segment.board), None)
        end = (
            None
            if start is None
            else next(
                (j for j in range(start, len(legs)) if legs[j].destination == segment.off), None
            )
        )
        if start is None or end is None:
            raise _Rejected(
                f"line {segment.line_number}: {message.flight_number} has no segment "
                f"{segment.board}-{segment.off}"
            )
        warning = apply_data_element(segment.identifier, segment.data, legs, start, end)
        if warning:
            raise _Rejected(f"line {segment.line_number}: {warning.removesuffix('; ignored')}")


# --- UTC variations -------------------------------------------------------------------------


def _utc_offset(airport: str, instant: dt.datetime) -> int:
    zone = get_airport(airport).zone
    offset = (
        instant.astimezone(zone).utcoffset()
        if instant.tzinfo is not None
        else zone.utcoffset(instant)
    )
    return int(offset.total_seconds() // 60) if offset is not None else 0


def _offsets(time_mode: str, leg: SsmLeg, flight_date: dt.date) -> tuple[int, int]:
    """The UTC variations at the leg's two ends on that flight date (an unknown airport
    gives 0: the leg is then rejected naming it)."""
    departure = dt.datetime.combine(
        flight_date + dt.timedelta(days=leg.departure_day), leg.departure
    )
    arrival_day = leg.departure_day if leg.arrival_day is None else leg.arrival_day
    arrival = dt.datetime.combine(flight_date + dt.timedelta(days=arrival_day), leg.arrival)
    if leg.arrival_day is None and arrival <= departure:
        arrival += dt.timedelta(days=1)
    if time_mode == "UTC":
        departure, arrival = departure.replace(tzinfo=dt.UTC), arrival.replace(tzinfo=dt.UTC)
    try:
        return _utc_offset(leg.origin, departure), _utc_offset(leg.destination, arrival)
    except AppError:
        return 0, 0


def _runs(message: SsmMessage, period: SsmPeriod, legs: Sequence[SsmLeg]) -> list[FlightPeriod]:
    """The period's dates in runs of unchanged UTC variations (all of it in local time)."""
    dates = list(iter_dates(period))
    if not dates:
        raise _Rejected(f"line {period.line_number}: the period has no date on its days")
    if message.time_mode != "UTC":
        return [FlightPeriod(period.first, period.last, period.days)]
    runs: list[list[dt.date]] = []
    previous = None
    for day in dates:
        offsets = tuple(_offsets("UTC", leg, day) for leg in legs)
        if offsets != previous:
            runs.append([])
            previous = offsets
        runs[-1].append(day)
    return [p for p in (period_of(run) for run in runs) if p is not None]


# --- CNL, RIN, TIM, EQT ---------------------------------------------------------------------


async def _change(run: _Run, period: SsmPeriod) -> None:
    message = run.message
    schedules = await service.schedules_of_flight(run.session, message.flight_number)
    if not schedules:
        raise _Rejected(f"{message.flight_number} has no schedule")
    if message.action == "TIM":
        legs = {(s.origin, s.destination) for s in schedules}
        unknown = next(
            (leg for leg in message.legs if (leg.origin, leg.destination) not in legs), None
        )
        if unknown is not None:
            raise _Rejected(
                f"line {unknown.line_number}: {message.flight_number} has no leg "
                f"{unknown.origin}-{unknown.destination}"
            )
    shift = _local_shift(message, schedules, period)
    dates = [day + dt.timedelta(days=shift) for day in iter_dates(period)]
    if not dates:
        raise _Rejected(f"line {period.line_number}: the period has no date on its days")
    wanted = "cancelled" if message.action == "RIN" else "active"
    changed = 0
    for schedule in schedules:
        if schedule.status != wanted:
            continue
        change = _change_for(run, schedule, shift)
        if change is None:
            continue
        definition = service.definition_of(schedule)
        cut = split(leg_period(definition), dates, (dates[0], dates[-1]))
        if cut.inside is None:
            continue
        pieces = [with_period(definition, piece) for piece in cut.outside]
        await _replace(run, schedule, pieces + change(definition, cut.inside))
        changed += 1
    if not changed:
        state = "cancelled" if message.action == "RIN" else "active"
        raise _Rejected(
            f"{message.flight_number} has no {state} schedule"
            f"{' for these legs' if message.action == 'TIM' else ''} on these dates"
        )


Change = Callable[[ScheduleCreate, FlightPeriod], list[ScheduleCreate]]


def _change_for(run: _Run, schedule: Schedule, shift: int) -> Change | None:
    """How the action changes one leg's covered dates (None: it does not touch this leg)."""
    action = run.message.action
    if action == "CNL":
        return lambda d, inside: [with_period(d, inside, status="cancelled")]
    if action == "RIN":
        return lambda d, inside: [with_period(d, inside, status="active")]
    if action == "EQT":
        return lambda d, inside: [with_period(d, inside, **_equipment(run, d))]
    leg = next(
        (
            leg
            for leg in run.message.legs
            if (leg.origin, leg.destination) == (schedule.origin, schedule.destination)
        ),
        None,
    )
    if leg is None:
        return None
    return lambda d, inside: _retimed(run, d, inside, leg, shift)


def _equipment(run: _Run, definition: ScheduleCreate) -> dict[str, object]:
    equipment = run.message.equipment
    assert equipment is not None
    default = DEFAULT_IMPORT_CABINS if equipment.service_type in SOLD_SERVICE_TYPES else {}
    configuration = read_configuration(equipment.configuration, default)
    existing = {name: spec.fare.model_dump() for name, spec in definition.cabins.items()}
    fares = Fares(run.fares.amount, run.fares.currency, existing)
    return {
        "service_type": equipment.service_type,
        "aircraft": equipment.aircraft_type,
        "aircraft_configuration": equipment.configuration or None,
        "cabins": fares.cabins(configuration.seats or default),
    }


def _retimed(
    run: _Run, definition: ScheduleCreate, inside: FlightPeriod, leg: SsmLeg, shift: int
) -> list[ScheduleCreate]:
    """The leg's covered dates at the message's times (in runs of constant UTC variations)."""
    message = run.message
    filed = inside.shifted(-shift)  # back to the message's flight dates
    period = SsmPeriod(leg.line_number, filed.first, filed.last, filed.days)
    pieces: list[ScheduleCreate] = []
    for run_period in _runs(message, period, [leg]):
        offsets = _offsets(message.time_mode, leg, run_period.first)
        filed_leg = SsimLeg(
            line_number=leg.line_number,
            airline=split_flight_number(message.flight_number)[0],
            flight_number=message.flight_number,
            itinerary_variation=definition.itinerary_variation,
            leg_sequence=definition.leg_sequence,
            service_type=definition.service_type,
            period_from=run_period.first,
            period_to=run_period.last,
            days_of_week=run_period.days,
            origin=leg.origin,
            destination=leg.destination,
            departure=leg.departure,
            arrival=leg.arrival,
            departure_utc_offset=offsets[0],
            arrival_utc_offset=offsets[1],
            departure_day=leg.departure_day,
            arrival_day=leg.arrival_day,
            aircraft_type=definition.aircraft,
            configuration=definition.aircraft_configuration or "",
            time_mode="U" if message.time_mode == "UTC" else "L",
        )
        (timed,) = _definitions(leg_definitions(SsimFlight([filed_leg]), run.fares, base_day=shift))
        changes = {
            "departure_local": timed.departure_local,
            "arrival_local": timed.arrival_local,
            "arrival_day_offset": timed.arrival_day_offset,
            "departure_day_offset": timed.departure_day_offset,
        }
        pieces.append(with_period(definition, run_period.shifted(shift), **changes))
    return pieces


def _local_shift(message: SsmMessage, schedules: list[Schedule], period: SsmPeriod) -> int:
    """Days from a UTC-mode message's flight date to FlightDeck's local flight date: found
    with the flight's first leg on the period's first date (0 in local time)."""
    if message.time_mode != "UTC":
        return 0
    first = min(schedules, key=lambda s: (s.leg_sequence, s.valid_from))
    for shift in (0, 1, -1):
        local_date = period.first + dt.timedelta(days=shift)
        departure = local_to_utc(local_date, first.departure_local, first.origin)
        if departure.date() == period.first:
            return shift
    return 0


async def _replace(run: _Run, schedule: Schedule, pieces: list[ScheduleCreate]) -> None:
    done = await service.replace_schedule(
        run.session,
        schedule.id,
        pieces,
        run.actor,
        action=f"ssm_{run.message.action.lower()}",
    )
    run.result.schedules_changed += 1
    run.result.schedules_created += len(pieces) - 1
    run.result.flights_created += done.flights_created
    run.result.flights_removed += done.flights_removed
    run.result.kept_flights += done.kept_flights
