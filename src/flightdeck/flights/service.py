"""Dated flights: create, list, read, change and remove or cancel them.

Live status changes are in `status_service`. Other domains (search, bookings, admin) read
flights through the functions here, never through the repository.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from flightdeck.flights import repository
from flightdeck.flights.airports import get_airport, local_to_utc, to_local
from flightdeck.flights.drafts import FlightDraft, build_flight
from flightdeck.flights.errors import (
    CapacityBelowSold,
    DuplicateFlight,
    FlightNotEditable,
    FlightNotFound,
)
from flightdeck.flights.itineraries.service import invalidate_flight_searches
from flightdeck.flights.models import Flight, FlightCabin
from flightdeck.flights.schemas import (
    CabinSpec,
    FlightCreate,
    FlightFilters,
    FlightRead,
    FlightUpdate,
    block_time_problem,
    flight_to_read,
)
from flightdeck.flights.status.schemas import FlightStatusUpdate
from flightdeck.flights.status.service import update_flight_status
from flightdeck.platform.audit import record_audit
from flightdeck.platform.errors import Unprocessable
from flightdeck.platform.events.outbox import record_event
from flightdeck.platform.pagination import Page, PageParams, cursor_instant, encode_cursor

FLIGHT_UPDATED = "flight.updated"
# Once a flight is off the ground (or cancelled) its schedule is history.
TIMES_FROZEN_STATUSES = frozenset({"cancelled", "departed", "arrived", "diverted"})
NOT_REMOVABLE_STATUSES = frozenset({"departed", "arrived", "diverted"})
CANCELLED_BY_DELETE_REASON = "Flight withdrawn by operations"
# Any local day lies within these offsets of UTC midnight (UTC-12 .. UTC+14).
_EARLIEST_OFFSET = timedelta(hours=14)
_LATEST_OFFSET = timedelta(hours=12)


# --- building flights (also used by the schedules service) -------------------------------


def service_date_at_origin(departure_at: datetime, origin: str) -> date:
    """The flight's service date: the departure's local date at the origin airport."""
    return to_local(departure_at, origin).date()


def has_sold_seats(flight: Flight) -> bool:
    """Whether any seat of any cabin of the flight is sold."""
    return any(cabin.sold > 0 for cabin in flight.cabins)


# --- create and read ---------------------------------------------------------------------


async def create_flight(session: AsyncSession, data: FlightCreate) -> Flight:
    """Stores one dated flight; 422 `unknown_airport`, 409 `duplicate_flight`."""
    get_airport(data.origin, "origin")
    get_airport(data.destination, "destination")
    departure_at = data.departure_time.astimezone(UTC)
    flight = build_flight(
        FlightDraft(
            flight_number=data.flight_number,
            origin=data.origin,
            destination=data.destination,
            departure_at=departure_at,
            arrival_at=data.arrival_time.astimezone(UTC),
            service_date=service_date_at_origin(departure_at, data.origin),
            aircraft=data.aircraft,
            cabins=data.cabins,
        )
    )
    if not await repository.add_flight(session, flight):
        raise _duplicate(data.flight_number, flight.service_date)
    await invalidate_flight_searches(session, [(flight.origin, flight.destination)])
    await record_audit(
        session, action="create", entity="flight", entity_id=flight.id, after=flight_state(flight)
    )
    return flight


def flight_state(flight: Flight) -> dict[str, Any]:
    """What the audit log keeps of a flight created or removed."""
    return {
        "flight_number": flight.flight_number,
        "service_date": flight.service_date.isoformat(),
        "origin": flight.origin,
        "destination": flight.destination,
        "departure_time": _iso(flight.departure_at, flight.origin),
        "arrival_time": _iso(flight.arrival_at, flight.destination),
        "aircraft": flight.aircraft,
        "cabins": {cabin.cabin: _cabin_state(cabin) for cabin in flight.cabins},
    }


def _duplicate(flight_number: str, service_date: date) -> DuplicateFlight:
    return DuplicateFlight(
        f"{flight_number} already operates on {service_date.isoformat()}",
        details={"flight_number": flight_number, "service_date": service_date.isoformat()},
    )


async def get_flight(session: AsyncSession, flight_id: str) -> Flight:
    """The flight with its cabins, or 404 `flight_not_found`."""
    flight = await repository.get_flight(session, flight_id)
    if flight is None:
        raise FlightNotFound()
    return flight


async def _get_flight_for_update(session: AsyncSession, flight_id: str) -> Flight:
    flight = await repository.get_flight(session, flight_id, for_update=True)
    if flight is None:
        raise FlightNotFound()
    return flight


def _flight_query(filters: FlightFilters) -> repository.FlightQuery:
    """Turns the filters into conditions the (origin|destination, departure_at) indexes serve."""
    if filters.origin is not None:
        get_airport(filters.origin, "origin")
    if filters.destination is not None:
        get_airport(filters.destination, "destination")
    departing_from = departing_before = None
    if filters.date is not None:
        next_day = filters.date + timedelta(days=1)
        if filters.origin is not None:
            departing_from = local_to_utc(filters.date, time(0), filters.origin)
            departing_before = local_to_utc(next_day, time(0), filters.origin)
        else:
            midnight = datetime.combine(filters.date, time(0), tzinfo=UTC)
            departing_from = midnight - _EARLIEST_OFFSET
            departing_before = midnight + timedelta(days=1) + _LATEST_OFFSET
    return repository.FlightQuery(
        origin=filters.origin,
        destination=filters.destination,
        departing_from=departing_from,
        departing_before=departing_before,
        service_date=filters.date,
        status=filters.status,
        flight_number=filters.flight_number,
    )


def _invalid_cursor() -> Unprocessable:
    return Unprocessable("cursor: not a cursor this server issued", code="invalid_cursor")


def _decode_flight_cursor(values: list[Any] | None) -> tuple[datetime, str] | None:
    if values is None:
        return None
    if len(values) != 2 or not all(isinstance(value, str) for value in values):
        raise _invalid_cursor()
    return cursor_instant(values[0]), values[1]


async def list_flights(
    session: AsyncSession, filters: FlightFilters, page: PageParams
) -> Page[FlightRead]:
    """Flights matching the filters by departure, keyset-paginated on (departure_at, id)."""
    query = _flight_query(filters)
    after = _decode_flight_cursor(page.cursor)
    flights = await repository.list_flights(session, query, limit=page.limit + 1, after=after)
    next_cursor = None
    if len(flights) > page.limit:
        flights = flights[: page.limit]
        last = flights[-1]
        next_cursor = encode_cursor([last.departure_at.isoformat(), last.id])
    return Page[FlightRead](items=[flight_to_read(f) for f in flights], next_cursor=next_cursor)


# --- change ------------------------------------------------------------------------------


def _iso(instant: datetime, airport: str) -> str:
    return to_local(instant, airport).isoformat()


def _apply_time_changes(flight: Flight, data: FlightUpdate) -> dict[str, Any]:
    """Moves the flight's times; the changed fields as {field: {from, to}}."""
    departure_at = (data.departure_time or flight.departure_at).astimezone(UTC)
    arrival_at = (data.arrival_time or flight.arrival_at).astimezone(UTC)
    if departure_at == flight.departure_at and arrival_at == flight.arrival_at:
        return {}
    if flight.status in TIMES_FROZEN_STATUSES:
        raise FlightNotEditable(
            f"The times of a {flight.status} flight cannot change",
            details={"status": flight.status},
        )
    problem = block_time_problem(departure_at, arrival_at)
    if problem is not None:
        raise Unprocessable(f"arrival_time: {problem}", details={"field": "arrival_time"})
    changes: dict[str, Any] = {}
    if departure_at != flight.departure_at:
        changes["departure_time"] = {
            "from": _iso(flight.departure_at, flight.origin),
            "to": _iso(departure_at, flight.origin),
        }
    if arrival_at != flight.arrival_at:
        changes["arrival_time"] = {
            "from": _iso(flight.arrival_at, flight.destination),
            "to": _iso(arrival_at, flight.destination),
        }
    service_date = service_date_at_origin(departure_at, flight.origin)
    if service_date != flight.service_date:
        changes["service_date"] = {
            "from": flight.service_date.isoformat(),
            "to": service_date.isoformat(),
        }
    flight.departure_at, flight.arrival_at, flight.service_date = (
        departure_at,
        arrival_at,
        service_date,
    )
    return changes


def _side(changes: dict[str, Any], side: str) -> dict[str, Any]:
    """One side ("from" or "to") of {field: {from, to}} (cabins: {cabin: {from, to}})."""
    return {
        name: change[side] if "from" in change else _side(change, side)
        for name, change in changes.items()
    }


def _cabin_state(cabin: FlightCabin) -> dict[str, Any]:
    return {
        "seats": cabin.capacity,
        "fare": {"amount": cabin.fare_amount, "currency": cabin.fare_currency},
    }


def _below_sold(cabin: FlightCabin, seats: int) -> CapacityBelowSold:
    return CapacityBelowSold(
        f"{cabin.cabin}: {cabin.sold} seats are already sold",
        details={"cabin": cabin.cabin, "sold": cabin.sold, "seats": seats},
    )


async def _apply_cabin_changes(
    session: AsyncSession, flight: Flight, cabins: Mapping[str, CabinSpec]
) -> dict[str, Any]:
    """Replaces the cabins, never below seats sold; the changed cabins as {cabin: {from, to}}."""
    existing = {cabin.cabin: cabin for cabin in flight.cabins}
    changes: dict[str, Any] = {}
    for name, cabin in existing.items():
        if name not in cabins:
            if not await repository.delete_unsold_cabin(session, cabin.id):
                raise _below_sold(cabin, 0)
            changes[name] = {"from": _cabin_state(cabin), "to": None}
    for name, spec in cabins.items():
        wanted = {"seats": spec.seats, "fare": spec.fare.model_dump()}
        cabin_or_none = existing.get(name)
        if cabin_or_none is None:
            new_cabin = FlightCabin(
                flight_id=flight.id,
                cabin=name,
                capacity=spec.seats,
                sold=0,
                fare_amount=spec.fare.amount,
                fare_currency=spec.fare.currency,
            )
            await repository.add_cabin(session, new_cabin)
            changes[name] = {"from": None, "to": wanted}
        elif _cabin_state(cabin_or_none) != wanted:
            updated = await repository.set_cabin_inventory(
                session,
                cabin_or_none.id,
                capacity=spec.seats,
                fare_amount=spec.fare.amount,
                fare_currency=spec.fare.currency,
            )
            if not updated:
                raise _below_sold(cabin_or_none, spec.seats)
            changes[name] = {"from": _cabin_state(cabin_or_none), "to": wanted}
    return changes


async def update_flight(
    session: AsyncSession, flight_id: str, data: FlightUpdate, *, actor_id: str | None
) -> Flight:
    """Changes times, aircraft and cabins; records `flight.updated` with what changed.

    409 `flight_not_editable` (times of a cancelled/departed flight), 409 `capacity_below_sold`,
    409 `duplicate_flight` (new service date taken), 422 (arrival not after departure).
    """
    flight = await _get_flight_for_update(session, flight_id)
    previous_service_date = flight.service_date
    changes = _apply_time_changes(flight, data)
    if "service_date" in changes and await _is_single_leg(session, flight, previous_service_date):
        # A single-leg flight is dated by its departure; a leg of a multi-leg flight keeps
        # its flight's date, which its other legs share.
        flight.flight_date = flight.service_date
    if "aircraft" in data.model_fields_set and data.aircraft != flight.aircraft:
        changes["aircraft"] = {"from": flight.aircraft, "to": data.aircraft}
        flight.aircraft = data.aircraft
    # Read before the flush: a failed SAVEPOINT expires the flight.
    flight_number, service_date = flight.flight_number, flight.service_date
    if changes and not await repository.flush_flight_changes(session):
        raise _duplicate(flight_number, service_date)
    if data.cabins is not None:
        cabin_changes = await _apply_cabin_changes(session, flight, data.cabins)
        if cabin_changes:
            changes["cabins"] = cabin_changes
    if not changes:
        return flight
    await invalidate_flight_searches(session, [(flight.origin, flight.destination)])
    await record_event(
        session,
        FLIGHT_UPDATED,
        aggregate_type="flight",
        aggregate_id=flight.id,
        payload={"flight_id": flight.id, "flight_number": flight.flight_number, "changed": changes},
        actor_id=actor_id,
    )
    await record_audit(
        session,
        action="update",
        entity="flight",
        entity_id=flight.id,
        before=_side(changes, "from"),
        after=_side(changes, "to"),
    )
    reloaded = await repository.reload_flight(session, flight.id)
    assert reloaded is not None  # locked by this transaction
    return reloaded


async def _is_single_leg(session: AsyncSession, flight: Flight, service_date: date) -> bool:
    if flight.leg_sequence != 1 or flight.flight_date != service_date:
        return False
    return await repository.count_legs(session, flight.flight_number, flight.flight_date) == 1


# --- remove or cancel --------------------------------------------------------------------


@dataclass(frozen=True)
class FlightRemoval:
    """Outcome of `delete_flight`: removed outright, or cancelled because seats were sold."""

    removed: bool
    flight: Flight | None
    affected_bookings: int = 0


async def cancel_flight(
    session: AsyncSession,
    flight: Flight,
    *,
    actor_id: str | None,
    reason: str,
    source: str = "api",
) -> int:
    """Cancels a flight that has seats sold and returns how many bookings it affected.

    Writes status `cancelled`, a status history row and a `flight.status_changed` outbox
    event carrying `reason`, through `status_service.update_flight_status`. That function calls
    the bookings hook `status_service.cancel_flight_bookings` on every cancellation (this one,
    `PUT /flights/{id}/status` and external feeds alike): the bookings issue extends that hook
    to cancel the bookings, release seats, refund and notify passengers.
    """
    result = await update_flight_status(
        session,
        flight.id,
        FlightStatusUpdate(status="cancelled", remark=reason),
        actor_id=actor_id,
        source=source,
        reason=reason,
    )
    return result.affected_bookings


async def delete_flight(
    session: AsyncSession, flight_id: str, *, actor_id: str | None
) -> FlightRemoval:
    """Removes a flight with nothing sold; cancels it (see `cancel_flight`) when seats are sold.

    409 `flight_not_editable` once it has departed. Deleting an already cancelled flight
    with seats sold changes nothing and reports it cancelled again.
    """
    flight = await _get_flight_for_update(session, flight_id)
    if flight.status in NOT_REMOVABLE_STATUSES:
        raise FlightNotEditable(
            f"A {flight.status} flight cannot be removed or cancelled",
            details={"status": flight.status},
        )
    await invalidate_flight_searches(session, [(flight.origin, flight.destination)])
    state = flight_state(flight)
    # Conditional delete: a seat sold meanwhile makes it fail, and the flight is cancelled.
    if await repository.delete_flight_if_unsold(session, flight_id):
        await record_audit(
            session, action="delete", entity="flight", entity_id=flight_id, before=state
        )
        return FlightRemoval(removed=True, flight=None)
    affected = 0
    if flight.status != "cancelled":
        affected = await cancel_flight(
            session, flight, actor_id=actor_id, reason=CANCELLED_BY_DELETE_REASON
        )
    reloaded = await repository.reload_flight(session, flight.id)
    return FlightRemoval(removed=False, flight=reloaded, affected_bookings=affected)
