"""Import of IATA SSIM (chapter 7) files, streamed and in batches.

The file is read a line at a time (ssim/parser.py) and its legs become schedule definitions
(ssim/legs.py); every few hundred legs (or few thousand dated flights) the batch is stored
through the schedules service (`store_imported_schedules`) and forgotten, so memory stays flat
however large the file. Everything happens in the caller's transaction: `POST
/schedules/import` (one request, at most 5 MB and `MAX_IMPORT_FLIGHTS` flights) and
`flightdeck import-ssim` (no limit) both load a whole file or nothing.

* A leg matching an existing schedule on (flight number, leg, origin, period, days) is
  skipped, so importing a file twice creates nothing new; a dated flight whose (flight
  number, flight date, leg) is taken is skipped too, with a warning on its line.
* Each leg of a multi-leg flight is a schedule of its own; its dated flights share the
  flight's date and number and are told apart by their leg sequence.
* Legs of other airlines than `carrier` (when given) are counted and passed over.
* One `schedule.changed` event (action "imported") per batch lists the schedules it created.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncSession

from flightdeck.flights.schedules import repository as repo
from flightdeck.flights.schedules import service
from flightdeck.flights.schedules.generation import (
    ArrivalNotAfterDeparture,
    BlockTimeTooLong,
    dated_times,
)
from flightdeck.flights.schedules.schemas import (
    ImportRejection,
    ImportWarning,
    ScheduleCreate,
    ScheduleImportResult,
)
from flightdeck.flights.schedules.ssim.legs import Fares, flight_warnings, leg_definitions
from flightdeck.flights.schedules.ssim.parser import (
    SsimCarrier,
    SsimFlight,
    SsimRejection,
    SsimWarning,
    read_ssim,
)
from flightdeck.platform.errors import AppError, Unprocessable

MAX_IMPORT_BYTES = 5 * 1024 * 1024
# One request must stay bounded: a file generating more flights must be split (or loaded
# with `flightdeck import-ssim`).
MAX_IMPORT_FLIGHTS = 200_000
DEFAULT_FARE_AMOUNT = 10_000
DEFAULT_CURRENCY = "USD"
# A batch is stored when it has this many legs or operating days, whichever comes first.
BATCH_LEGS = 500
BATCH_FLIGHTS = 5_000
# An import creating this many flights refreshes the planner's statistics before it commits
# (`repository.refresh_statistics`: ANALYZE, ~0.3 s at 100,000 flights and 200,000 cabins).
ANALYZE_AFTER_FLIGHTS = 1_000


class PayloadTooLargeError(AppError):
    status_code = 413
    code = "payload_too_large"
    message = f"The file is larger than {MAX_IMPORT_BYTES // (1024 * 1024)} MB"


class NotSsim(Unprocessable):
    code = "invalid_ssim"
    message = "The file is not an IATA SSIM schedule: no carrier or flight leg record found"


class ImportTooLarge(Unprocessable):
    code = "import_too_large"


@dataclass(frozen=True)
class ImportOptions:
    fares: Fares = field(default_factory=lambda: Fares(DEFAULT_FARE_AMOUNT, DEFAULT_CURRENCY))
    carrier: str | None = None  # only this airline's legs
    max_flights: int | None = None


@dataclass
class _Import:
    """What one import has done so far, and the batch it is building."""

    options: ImportOptions
    actor_id: str | None
    result: ScheduleImportResult = field(
        default_factory=lambda: ScheduleImportResult(
            schedules_created=0,
            schedules_skipped=0,
            flights_created=0,
            flights_skipped=0,
            rejected=[],
            warnings=[],
            carriers=[],
            time_mode=None,
        )
    )
    batch: list[service.ImportedSchedule] = field(default_factory=list)
    batch_days: int = 0
    legs_seen: int = 0

    def reject(self, line_number: int, reason: str) -> None:
        self.result.rejected.append(ImportRejection(line_number=line_number, reason=reason))

    def warn(self, line_number: int, warning: str) -> None:
        self.result.warnings.append(ImportWarning(line_number=line_number, warning=warning))


def decode_lines(chunks: Iterable[bytes]) -> Iterator[str]:
    """Byte lines as text: UTF-8, else ISO 8859-1 (older SSIM exports; every byte decodes)."""
    for chunk in chunks:
        try:
            yield chunk.decode("utf-8")
        except UnicodeDecodeError:
            yield chunk.decode("latin-1")


async def import_ssim(
    session: AsyncSession,
    content: bytes,
    actor_id: str | None,
    *,
    default_fare_amount: int | None = None,
    currency: str | None = None,
) -> ScheduleImportResult:
    """An uploaded file (`POST /schedules/import`): at most 5 MB and `MAX_IMPORT_FLIGHTS`."""
    if len(content) > MAX_IMPORT_BYTES:
        raise PayloadTooLargeError()
    fares = Fares(
        default_fare_amount if default_fare_amount is not None else DEFAULT_FARE_AMOUNT,
        currency or DEFAULT_CURRENCY,
    )
    lines = decode_lines(content.split(b"\n"))
    options = ImportOptions(fares=fares, max_flights=MAX_IMPORT_FLIGHTS)
    return await import_ssim_lines(session, lines, actor_id, options)


async def import_ssim_lines(
    session: AsyncSession, lines: Iterable[str], actor_id: str | None, options: ImportOptions
) -> ScheduleImportResult:
    """Loads the good legs of an SSIM file read line by line; bad lines are rejected with
    their line number and the field at fault. 422 `invalid_ssim` when nothing in it is SSIM."""
    run = _Import(options, actor_id)
    for item in read_ssim(lines):
        if isinstance(item, SsimFlight):
            _add_flight(run, item)
            if len(run.batch) >= BATCH_LEGS or run.batch_days >= BATCH_FLIGHTS:
                await _store_batch(session, run)
        elif isinstance(item, SsimRejection):
            run.reject(item.line_number, item.reason)
        elif isinstance(item, SsimWarning):
            run.warn(item.line_number, item.warning)
        elif isinstance(item, SsimCarrier):
            _add_carrier(run, item)
    await _store_batch(session, run)
    result = run.result
    if not run.legs_seen and not result.carriers:
        raise NotSsim(details={"rejected": [r.model_dump() for r in result.rejected[:20]]})
    if result.flights_created >= ANALYZE_AFTER_FLIGHTS:
        await repo.refresh_statistics(session)
    result.rejected.sort(key=lambda r: r.line_number)
    result.warnings.sort(key=lambda w: w.line_number)
    return result


def _add_carrier(run: _Import, carrier: SsimCarrier) -> None:
    if carrier.airline not in run.result.carriers:
        run.result.carriers.append(carrier.airline)
    if run.result.time_mode is None:
        run.result.time_mode = carrier.time_mode


def _add_flight(run: _Import, flight: SsimFlight) -> None:
    run.legs_seen += len(flight.legs)
    carrier = run.options.carrier
    if carrier is not None and flight.legs[0].airline != carrier:
        run.result.legs_of_other_carriers += len(flight.legs)
        return
    results = leg_definitions(flight, run.options.fares)
    flight_warnings(flight, results)
    for leg in results:
        for warning in leg.warnings:
            run.warn(leg.line_number, warning)
        if leg.definition is None:
            run.reject(leg.line_number, leg.rejection or "leg not readable")
            continue
        try:
            dated = dated_times(leg.definition)
        except (ArrivalNotAfterDeparture, BlockTimeTooLong) as error:
            run.reject(leg.line_number, error.message)
            continue
        run.batch.append(service.ImportedSchedule(leg.line_number, leg.definition, dated))
        run.batch_days += len(dated)


def _describe(definition: ScheduleCreate) -> str:
    return (
        f"{definition.flight_number} leg {definition.leg_sequence} {definition.origin} "
        f"{definition.valid_from}..{definition.valid_to} days {definition.days_of_week}"
    )


async def _without_existing_schedules(
    session: AsyncSession, run: _Import
) -> list[service.ImportedSchedule]:
    """The batch's legs no stored schedule (or earlier line of the batch) already covers."""
    known = await repo.find_schedule_keys(
        session, [leg.definition.flight_number for leg in run.batch]
    )
    where: dict[repo.ScheduleKey, str] = {key: "a stored schedule" for key in known}
    fresh: list[service.ImportedSchedule] = []
    for leg in run.batch:
        d = leg.definition
        key = (d.flight_number, d.leg_sequence, d.origin, d.valid_from, d.valid_to, d.days_of_week)
        timing = (d.destination, d.departure_local, d.arrival_local, d.arrival_day_offset)
        if key not in where:
            where[key], known[key] = f"line {leg.line_number}", timing
            fresh.append(leg)
            continue
        differs = "" if known[key] == timing else " with other times, not changed"
        run.warn(
            leg.line_number,
            f"{_describe(d)} is already scheduled ({where[key]}){differs}; leg skipped",
        )
    run.result.schedules_skipped += len(run.batch) - len(fresh)
    return fresh


async def _store_batch(session: AsyncSession, run: _Import) -> None:
    if not run.batch:
        return
    fresh = await _without_existing_schedules(session, run)
    outcomes = await service.store_imported_schedules(session, fresh, run.actor_id)
    result = run.result
    for outcome in outcomes:
        result.schedules_created += 1
        result.flights_created += outcome.created
        result.flights_skipped += outcome.dates_taken + outcome.dates_passed
        if outcome.dates_taken:
            run.warn(
                outcome.line_number,
                f"{outcome.dates_taken} date(s) skipped: the flight number already has this "
                "leg on those flight dates",
            )
    run.batch, run.batch_days = [], 0
    limit = run.options.max_flights
    if limit is not None and result.flights_created > limit:
        raise ImportTooLarge(
            f"The file would generate more than {limit} flights per import: split it by "
            "period or carrier, or load it with `flightdeck import-ssim`"
        )
