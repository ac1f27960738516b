"""Live flight status: the allowed transitions, estimates and actuals, and their history.

`update_flight_status` is the one entry point for every source of status (the API, external
feeds, the simulator): each update writes a `FlightStatusChange` row and a
`flight.status_changed` outbox event in the caller's transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import orjson
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from flightdeck.flights import repository
from flightdeck.flights.airports import get_airport, to_local
from flightdeck.flights.errors import FlightNotFound, InvalidStatusTransition
from flightdeck.flights.itineraries.service import invalidate_flight_searches
from flightdeck.flights.models import Flight, FlightStatusChange
from flightdeck.flights.status import repository as status_repository
from flightdeck.flights.status.schemas import (
    FlightStatusChangeRead,
    FlightStatusRead,
    FlightStatusUpdate,
    status_change_to_read,
    status_to_read,
)
from flightdeck.platform.audit import record_audit
from flightdeck.platform.cache import get_cache
from flightdeck.platform.cache_invalidation import delete_keys
from flightdeck.platform.clock import utcnow
from flightdeck.platform.errors import Unprocessable
from flightdeck.platform.events.outbox import record_event

FLIGHT_STATUS_CHANGED = "flight.status_changed"

# Statuses before the doors close: estimates and delays may still move.
_ESTIMATED_STATUSES = frozenset({"scheduled", "on_time", "delayed", "boarding"})

# from status → the statuses it may move to. A non-terminal status may also be "updated" to
# itself (a new estimate, a gate change); `arrived` and `cancelled` are terminal: no update.
ALLOWED_TRANSITIONS: dict[str, frozenset[str]] = {
    "scheduled": frozenset({"on_time", "delayed", "boarding", "cancelled"}),
    "on_time": frozenset({"scheduled", "delayed", "boarding", "cancelled"}),
    "delayed": frozenset({"scheduled", "on_time", "boarding", "cancelled"}),
    "boarding": frozenset({"departed", "delayed", "cancelled"}),
    "departed": frozenset({"arrived", "diverted"}),
    "diverted": frozenset({"arrived"}),
    "arrived": frozenset(),
    "cancelled": frozenset(),
}
TERMINAL_STATUSES = frozenset(s for s, targets in ALLOWED_TRANSITIONS.items() if not targets)

_ESTIMATES = frozenset({"estimated_departure", "estimated_arrival", "delay_minutes"})
# The timing fields an update to each status may carry (gate, terminal, remark: any status).
FIELDS_BY_STATUS: dict[str, frozenset[str]] = {
    "scheduled": _ESTIMATES,
    "on_time": _ESTIMATES,
    "delayed": _ESTIMATES,
    "boarding": _ESTIMATES,
    "departed": frozenset({"actual_departure", "estimated_arrival", "delay_minutes"}),
    "diverted": frozenset({"diverted_to", "actual_departure", "estimated_arrival"}),
    "arrived": frozenset({"actual_departure", "actual_arrival", "delay_minutes"}),
    "cancelled": frozenset(),
}
_TIMING_FIELDS = frozenset().union(*FIELDS_BY_STATUS.values())

# Flight attribute → name in events and responses; the fields whose changes are reported.
_TRACKED = {
    "status": "status",
    "estimated_departure_at": "estimated_departure",
    "actual_departure_at": "actual_departure",
    "estimated_arrival_at": "estimated_arrival",
    "actual_arrival_at": "actual_arrival",
    "delay_minutes": "delay_minutes",
    "gate": "gate",
    "terminal": "terminal",
    "diverted_to": "diverted_to",
}


@dataclass(frozen=True)
class StatusUpdateResult:
    flight: Flight
    change: FlightStatusChange
    affected_bookings: int


def check_transition(from_status: str, to_status: str) -> None:
    """409 `invalid_status_transition` unless `ALLOWED_TRANSITIONS` permits the move."""
    same_allowed = from_status == to_status and from_status not in TERMINAL_STATUSES
    if not same_allowed and to_status not in ALLOWED_TRANSITIONS.get(from_status, frozenset()):
        raise InvalidStatusTransition(
            f"A {from_status} flight cannot become {to_status}",
            details={"from": from_status, "to": to_status},
        )


def _invalid(field: str, message: str) -> Unprocessable:
    return Unprocessable(f"{field}: {message}", details={"field": field})


def _check_fields(update: FlightStatusUpdate) -> None:
    given = {name for name in update.model_fields_set if getattr(update, name) is not None}
    not_allowed = sorted((given & _TIMING_FIELDS) - FIELDS_BY_STATUS[update.status])
    if not_allowed:
        raise _invalid(not_allowed[0], f"cannot be given with status {update.status}")


def _minutes(delta: timedelta) -> int:
    return round(delta.total_seconds() / 60)


def _apply_estimates(flight: Flight, update: FlightStatusUpdate) -> None:
    """Estimated departure and delay, each derived from the other; estimated arrival keeps the
    block time unless given. Nothing given: a delay is kept only while the flight stays
    `delayed` or `boarding`."""
    estimate, delay = update.estimated_departure, update.delay_minutes
    if estimate is not None:
        derived = _minutes(estimate - flight.departure_at)
        if delay is not None and delay != derived:
            raise _invalid("delay_minutes", "does not match estimated_departure")
        delay = derived
    elif delay is not None:
        estimate = flight.departure_at + timedelta(minutes=delay)
    if estimate is None or delay is None:
        keeps_delay = update.status in ("delayed", "boarding") and flight.delay_minutes > 0
        if update.status == "delayed" and not keeps_delay:
            raise _invalid(
                "estimated_departure", "a delay needs estimated_departure or delay_minutes"
            )
        if not keeps_delay:
            flight.delay_minutes = 0
            flight.estimated_departure_at = flight.estimated_arrival_at = None
        if update.estimated_arrival is not None:
            flight.estimated_arrival_at = update.estimated_arrival.astimezone(UTC)
        return
    if update.status == "delayed" and delay <= 0:
        raise _invalid("estimated_departure", "a delayed flight leaves after its scheduled time")
    flight.estimated_departure_at = estimate.astimezone(UTC)
    flight.delay_minutes = max(delay, 0)
    flight.estimated_arrival_at = (
        update.estimated_arrival or flight.arrival_at + timedelta(minutes=flight.delay_minutes)
    ).astimezone(UTC)


def _apply_departure(flight: Flight, update: FlightStatusUpdate, now: datetime) -> None:
    actual = update.actual_departure or flight.actual_departure_at or now
    flight.actual_departure_at = actual.astimezone(UTC)
    if update.delay_minutes is not None:
        flight.delay_minutes = update.delay_minutes
    elif update.actual_departure is not None or update.status == "departed":
        flight.delay_minutes = max(_minutes(flight.actual_departure_at - flight.departure_at), 0)
    if update.estimated_arrival is not None:
        flight.estimated_arrival_at = update.estimated_arrival.astimezone(UTC)
    flight.departure_delay_minutes = _minutes(flight.actual_departure_at - flight.departure_at)


def _apply_arrival(flight: Flight, update: FlightStatusUpdate, now: datetime) -> None:
    _apply_departure(flight, update, now)
    arrived_at = (update.actual_arrival or now).astimezone(UTC)
    departed_at = flight.actual_departure_at
    if departed_at is not None and arrived_at <= departed_at:
        raise _invalid("actual_arrival", "must be after actual_departure")
    flight.actual_arrival_at = arrived_at
    flight.arrival_delay_minutes = _minutes(arrived_at - flight.arrival_at)


def _apply_diversion(flight: Flight, update: FlightStatusUpdate, now: datetime) -> None:
    airport = update.diverted_to or flight.diverted_to
    if airport is None:
        raise _invalid("diverted_to", "a diverted flight needs the airport it goes to")
    get_airport(airport, "diverted_to")
    if airport == flight.destination:
        raise _invalid("diverted_to", "is the scheduled destination")
    flight.diverted_to = airport
    _apply_departure(flight, update, now)


def _apply_update(flight: Flight, update: FlightStatusUpdate, now: datetime) -> None:
    """Validates the update against the status it sets and writes it on the flight."""
    _check_fields(update)
    if update.status in _ESTIMATED_STATUSES:
        _apply_estimates(flight, update)
    elif update.status == "departed":
        _apply_departure(flight, update, now)
    elif update.status == "arrived":
        _apply_arrival(flight, update, now)
    elif update.status == "diverted":
        _apply_diversion(flight, update, now)
    for field in ("gate", "terminal"):
        if field in update.model_fields_set:
            setattr(flight, field, getattr(update, field))
    flight.status = update.status
    flight.status_updated_at = now


def _snapshot(flight: Flight) -> dict[str, Any]:
    return {name: getattr(flight, attribute) for attribute, name in _TRACKED.items()}


def _json_value(flight: Flight, name: str, value: Any) -> Any:
    """Instants as ISO strings in the relevant airport's offset, as the API shows them."""
    if not isinstance(value, datetime):
        return value
    airport = flight.origin if "departure" in name else flight.diverted_to or flight.destination
    return to_local(value, airport).isoformat()


def _event_payload(
    flight: Flight, from_status: str, before: dict[str, Any], update: FlightStatusUpdate
) -> dict[str, Any]:
    after = _snapshot(flight)
    changed = {
        name: {
            "from": _json_value(flight, name, before[name]),
            "to": _json_value(flight, name, value),
        }
        for name, value in after.items()
        if before[name] != value
    }
    return {
        "flight_id": flight.id,
        "flight_number": flight.flight_number,
        "from_status": from_status,
        **{name: _json_value(flight, name, value) for name, value in after.items()},
        "remark": update.remark,
        "changed": changed,
    }


def _history_row(
    flight: Flight,
    from_status: str,
    update: FlightStatusUpdate,
    *,
    actor_id: str | None,
    source: str,
    changed_at: datetime,
) -> FlightStatusChange:
    return FlightStatusChange(
        flight_id=flight.id,
        from_status=from_status,
        status=flight.status,
        estimated_departure_at=flight.estimated_departure_at,
        actual_departure_at=flight.actual_departure_at,
        estimated_arrival_at=flight.estimated_arrival_at,
        actual_arrival_at=flight.actual_arrival_at,
        delay_minutes=flight.delay_minutes,
        gate=flight.gate,
        terminal=flight.terminal,
        remark=update.remark,
        source=source,
        changed_by=actor_id,
        changed_at=changed_at,
    )


class CancellationHandler(Protocol):
    async def __call__(
        self, session: AsyncSession, flight_id: str, *, actor_id: str | None, reason: str | None
    ) -> int: ...


# Registered by domains that hold things on flights (bookings), so flights imports none of them.
_cancellation_handlers: list[CancellationHandler] = []


def register_cancellation_handler(handler: CancellationHandler) -> None:
    """Adds a handler run in the transaction of every flight cancellation (once per handler,
    however often it is registered); it returns how many bookings it affected."""
    if handler not in _cancellation_handlers:
        _cancellation_handlers.append(handler)


async def cancel_flight_bookings(
    session: AsyncSession, flight: Flight, *, actor_id: str | None, reason: str | None
) -> int:
    """Hook called once whenever a flight becomes `cancelled`, from any source: runs the
    registered handlers (the bookings domain cancels the flight's bookings, releases their
    seats and records refunds) and returns the number of bookings affected."""
    affected = 0
    for handler in _cancellation_handlers:
        affected += await handler(session, flight.id, actor_id=actor_id, reason=reason)
    return affected


async def update_flight_status(
    session: AsyncSession,
    flight_id: str,
    update: FlightStatusUpdate,
    *,
    actor_id: str | None,
    source: str,
    reason: str | None = None,
) -> StatusUpdateResult:
    """Applies a status update: 404 `flight_not_found`, 409 `invalid_status_transition`,
    422 for fields the status does not allow or lacks. Writes the history row and the
    `flight.status_changed` event (with `reason` when given) in the caller's transaction."""
    flight = await repository.get_flight(session, flight_id, for_update=True)
    if flight is None:
        raise FlightNotFound()
    from_status = flight.status
    check_transition(from_status, update.status)
    before = _snapshot(flight)
    now = utcnow()
    _apply_update(flight, update, now)
    await invalidate_flight_searches(session, [(flight.origin, flight.destination)])
    if flight.status in status_repository.OUTCOME_STATUSES:
        await forget_punctuality([flight.flight_number], session=session)
    change = _history_row(
        flight, from_status, update, actor_id=actor_id, source=source, changed_at=now
    )
    await repository.add_status_change(session, change)
    affected = 0
    if flight.status == "cancelled" and from_status != "cancelled":
        affected = await cancel_flight_bookings(session, flight, actor_id=actor_id, reason=reason)
    payload = _event_payload(flight, from_status, before, update)
    payload["source"] = source
    if reason is not None:
        payload["reason"] = reason
    await record_event(
        session,
        FLIGHT_STATUS_CHANGED,
        aggregate_type="flight",
        aggregate_id=flight.id,
        payload=payload,
        actor_id=actor_id,
    )
    await _audit_status_change(session, flight.id, payload, affected, source)
    return StatusUpdateResult(flight=flight, change=change, affected_bookings=affected)


async def _audit_status_change(
    session: AsyncSession, flight_id: str, payload: dict[str, Any], affected: int, source: str
) -> None:
    changed: dict[str, dict[str, Any]] = payload["changed"]
    after = {name: change["to"] for name, change in changed.items()}
    if payload.get("remark"):
        after["remark"] = payload["remark"]
    if affected:
        after["affected_bookings"] = affected
    await record_audit(
        session,
        action="status",
        entity="flight",
        entity_id=flight_id,
        before={name: change["from"] for name, change in changed.items()},
        after=after,
        source=source,
    )


async def get_flight_status(session: AsyncSession, flight_id: str) -> FlightStatusRead:
    """The flight's live status with the remark of its latest update; 404 if unknown."""
    flight = await repository.get_flight(session, flight_id)
    if flight is None:
        raise FlightNotFound()
    latest = await repository.latest_status_change(session, flight_id)
    return status_to_read(flight, latest.remark if latest else None)


async def list_status_history(
    session: AsyncSession, flight_id: str
) -> list[FlightStatusChangeRead]:
    """The flight's status changes, newest first; 404 if unknown."""
    flight = await repository.get_flight(session, flight_id)
    if flight is None:
        raise FlightNotFound()
    changes = await repository.list_status_changes(session, flight_id)
    return [status_change_to_read(change, flight) for change in changes]


# --- punctuality of flight numbers, for search --------------------------------------------

PUNCTUALITY_WINDOW = timedelta(days=30)
ON_TIME_THRESHOLD = timedelta(minutes=15)  # A15: arrived less than 15 minutes late
_PUNCTUALITY_KEY = "punctuality:v1:"


def _punctuality_document(row: status_repository.PunctualityRow | None) -> dict[str, Any]:
    """`PunctualityRead` as JSON."""
    observed = row.observed if row else 0
    average = row.average_delay_seconds if row else None
    return {
        "window_days": PUNCTUALITY_WINDOW.days,
        "flights_observed": observed,
        "on_time_share": round(row.on_time / observed, 3) if row and observed else None,
        "average_delay_minutes": None if average is None else round(average / 60, 1),
    }


async def cached_punctuality(
    flight_numbers: Sequence[str],
) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """`PunctualityRead` (as JSON) of each flight number over the last 30 days that the cache
    has (one lookup for all of them), and the flight numbers it lacks, for
    `computed_punctuality`. An outcome recorded for a flight (arrived, cancelled, diverted)
    drops its number's entry (`forget_punctuality`)."""
    numbers = sorted(set(flight_numbers))
    keys = [_PUNCTUALITY_KEY + number for number in numbers]
    found = {
        number: orjson.loads(value)
        for number, value in zip(numbers, await get_cache().get_many(keys), strict=True)
        if value is not None
    }
    return found, [number for number in numbers if number not in found]


async def computed_punctuality(
    executor: AsyncConnection | AsyncSession, flight_numbers: Sequence[str], *, cache_seconds: float
) -> dict[str, dict[str, Any]]:
    """These flight numbers' punctuality, computed from their flights' outcomes
    (status_repository) in one query and cached for `cache_seconds`."""
    now = utcnow()
    rows = await status_repository.punctuality_by_flight_number(
        executor,
        flight_numbers,
        since=now - PUNCTUALITY_WINDOW,
        until=now,
        on_time_seconds=int(ON_TIME_THRESHOLD.total_seconds()),
    )
    by_number = {row.flight_number: row for row in rows}
    computed = {number: _punctuality_document(by_number.get(number)) for number in flight_numbers}
    await get_cache().set_many(
        {_PUNCTUALITY_KEY + n: orjson.dumps(d) for n, d in computed.items()}, cache_seconds
    )
    return computed


async def forget_punctuality(
    flight_numbers: Sequence[str], *, session: AsyncSession | None = None
) -> None:
    """Drops the cached punctuality of these flight numbers (a flight of theirs just got an
    outcome) now and when `session` commits, so the next search computes it again."""
    await delete_keys([_PUNCTUALITY_KEY + number for number in flight_numbers], session=session)
