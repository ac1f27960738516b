"""Seat inventory: hold and release seats for bookings, and the seat map of a flight.

The bookings domain calls `hold_inventory` / `release_inventory` (never the repository).
Rules (ARCHITECTURE.md, "Inventory"):

- Seats per cabin move with ONE conditional update (`sold = sold + n WHERE sold + n <=
  capacity`, rowcount checked); a chosen seat is a row in `seat_assignments` whose unique
  (flight_id, seat) settles races. Nothing is checked first and written after.
- Held seats count as sold (the booking is pending payment); a release gives them back.
- Every hold writes one `inventory_holds` row per (booking, flight) with the quantity held.
  A release is driven by deleting those rows: only the transaction whose DELETE removed the
  row decrements `sold`, so releasing twice (even concurrently) gives the seats back once.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from flightdeck.flights import repository
from flightdeck.flights.errors import (
    CabinNotOffered,
    DuplicateSeat,
    DuplicateSegment,
    FlightNotBookable,
    FlightNotFound,
    InvalidSeat,
    InventoryAlreadyHeld,
    SeatsUnavailable,
    SeatUnavailable,
    UnknownFlight,
)
from flightdeck.flights.inventory import hold_statement
from flightdeck.flights.inventory import repository as inventory_repository
from flightdeck.flights.inventory.repository import CabinInventory, FlightForBooking, SeatsTaken
from flightdeck.flights.inventory.schemas import (
    CabinSeatMapRead,
    SeatMapRead,
    SeatRead,
    SeatRowRead,
)
from flightdeck.flights.inventory.seat_layouts import (
    CabinLayout,
    normalise_seat,
    seat_cabin,
    seat_map,
)
from flightdeck.flights.inventory.traffic import check_traffic_restrictions
from flightdeck.flights.itineraries.service import (
    invalidate_searches_for_flights,
    invalidate_seat_searches,
)
from flightdeck.flights.models import SOLD_SERVICE_TYPES, Flight, FlightCabin
from flightdeck.platform.clock import utcnow
from flightdeck.platform.errors import AppError, Unprocessable
from flightdeck.platform.money import Money

log = logging.getLogger(__name__)

# A flight in one of these states takes no new bookings.
NOT_BOOKABLE_STATUSES = frozenset({"cancelled", "departed", "arrived", "diverted"})


@dataclass(frozen=True)
class SegmentRequest:
    """One flight of a booking request; `seats` has one entry per passenger (None = no seat
    chosen), in passenger order."""

    flight_id: str
    seats: list[str | None]


@dataclass(frozen=True)
class HeldSegment:
    """What was held on one flight, in the order of the request's segments."""

    flight_id: str
    flight_number: str
    origin: str
    destination: str
    departure_at: datetime  # UTC
    arrival_at: datetime  # UTC
    cabin: str
    seats: list[str | None]  # normalised ("12a" -> "12A"), passenger order
    fare: Money  # per passenger


# --- holding ------------------------------------------------------------------------------


def _layout(flight: Flight | FlightForBooking) -> list[CabinLayout]:
    return seat_map(flight.aircraft, [(c.cabin, c.capacity) for c in flight.cabins])


def _offered_cabin(flight: FlightForBooking, cabin: str) -> CabinInventory:
    offered = next((c for c in flight.cabins if c.cabin == cabin), None)
    if offered is None:
        raise CabinNotOffered(
            f"{flight.flight_number} has no {cabin} cabin",
            details={"flight_id": flight.id, "cabin": cabin},
        )
    return offered


def _bookable_flight(
    flight: FlightForBooking | None, flight_id: str, cabin: str
) -> FlightForBooking:
    """The flight read (`hold_seats`), if it takes bookings in that cabin now."""
    if flight is None:
        raise UnknownFlight(flight_id)
    if flight.status in NOT_BOOKABLE_STATUSES:
        reason = f"it is {flight.status}"
    elif flight.service_type not in SOLD_SERVICE_TYPES:
        reason = f"service type {flight.service_type} is not a passenger service sold here"
    elif flight.departure_at <= utcnow():
        reason = "its departure time has passed"
    else:
        _offered_cabin(flight, cabin)
        return flight
    raise FlightNotBookable(
        f"{flight.flight_number} cannot be booked: {reason}",
        details={"flight_id": flight.id, "status": flight.status},
    )


def _checked_seats(
    flight: FlightForBooking, cabin: str, seats: list[str | None]
) -> list[str | None]:
    """The chosen seats normalised ("12a" -> "12A"); 422 when one is not a seat of this cabin
    or is chosen twice."""
    if all(seat is None for seat in seats):
        return list(seats)  # no seat chosen: no seat map to build
    layout = _layout(flight)
    checked: list[str | None] = []
    for requested in seats:
        if requested is None:
            checked.append(None)
            continue
        seat = normalise_seat(requested)
        if seat is None or seat_cabin(layout, seat) != cabin:
            raise InvalidSeat(
                f"Seat {requested} is not a {cabin} seat on {flight.flight_number}",
                details={"flight_id": flight.id, "seat": requested, "cabin": cabin},
            )
        if seat in checked:
            raise DuplicateSeat(
                f"Seat {seat} on {flight.flight_number} is requested twice",
                details={"flight_id": flight.id, "seat": seat},
            )
        checked.append(seat)
    return checked


def _check_request(segments: list[SegmentRequest]) -> None:
    if not segments:
        raise Unprocessable(
            "segments: at least one flight is required", details={"field": "segments"}
        )
    if any(not segment.seats for segment in segments):
        raise Unprocessable(
            "passengers: at least one passenger is required", details={"field": "passengers"}
        )
    repeated = [fid for fid, n in Counter(s.flight_id for s in segments).items() if n > 1]
    if repeated:
        raise DuplicateSegment(
            f"Flight {repeated[0]} appears twice in one booking",
            details={"flight_id": repeated[0]},
        )


async def _finish_hold(
    session: AsyncSession,
    flight: FlightForBooking,
    outcome: SeatsTaken,
    *,
    booking_id: str,
    cabin: str,
    seats: list[str | None],
) -> None:
    """Refuses a hold whose seats were not taken, assigns the chosen seats and drops the
    cached searches the sale made stale."""
    if not outcome.taken:
        raise _seats_unavailable(flight, cabin, len(seats), outcome.available)
    taken = await inventory_repository.add_seat_assignments(
        session, flight.id, cabin, booking_id, seats
    )
    if taken is not None:
        raise SeatUnavailable(
            f"Seat {taken} on {flight.flight_number} is taken",
            details={"flight_id": flight.id, "seat": taken},
        )
    if not outcome.held:
        raise InventoryAlreadyHeld(
            f"Booking {booking_id} already holds seats on {flight.flight_number}",
            details={"booking_id": booking_id, "flight_id": flight.id},
        )
    await inventory_repository.refresh_cabins(session, flight.id)
    # Seats left changed: cached searches showing it must not offer stale availability.
    await invalidate_seat_searches(session, [_departure(flight)])


def _departure(flight: FlightForBooking) -> tuple[str, str, datetime]:
    return flight.origin, flight.destination, flight.departure_at


def _seats_unavailable(
    flight: FlightForBooking, cabin: str, requested: int, available: int
) -> SeatsUnavailable:
    return SeatsUnavailable(
        f"Only {available} {cabin} seats left on {flight.flight_number}, {requested} requested",
        details={
            "flight_id": flight.id,
            "flight_number": flight.flight_number,
            "requested": requested,
            "available": available,
        },
    )


def _held_segment(flight: FlightForBooking, cabin: str, seats: list[str | None]) -> HeldSegment:
    offered = _offered_cabin(flight, cabin)
    return HeldSegment(
        flight_id=flight.id,
        flight_number=flight.flight_number,
        origin=flight.origin,
        destination=flight.destination,
        departure_at=flight.departure_at,
        arrival_at=flight.arrival_at,
        cabin=cabin,
        seats=seats,
        fare=Money(amount=offered.fare_amount, currency=offered.fare_currency),
    )


async def hold_inventory(
    session: AsyncSession, *, booking_id: str, cabin: str, segments: list[SegmentRequest]
) -> list[HeldSegment]:
    """Holds len(seats) seats in `cabin` on every segment, all or nothing (the caller's
    transaction rolls back on error). Raises UnknownFlight (422 unknown_flight),
    FlightNotBookable (409 flight_not_bookable: cancelled/departed/arrived/diverted, departing
    in the past, or not a passenger service), CabinNotOffered (422 cabin_not_offered),
    InvalidSeat (422 invalid_seat: seat not in this cabin's layout), DuplicateSeat (422
    duplicate_seat: same seat twice in one request), DuplicateSegment (422 duplicate_segment:
    same flight twice), TrafficRestricted (422 traffic_restricted: a segment the flights' SSIM
    traffic restrictions do not sell in this journey, see inventory/traffic.py),
    SeatsUnavailable (409 seats_unavailable: not enough seats left, details {flight_id,
    flight_number, requested, available}), SeatUnavailable (409 seat_unavailable: a chosen
    seat is taken, message like "Seat 12A on FD101 is taken", details {flight_id, seat}),
    InventoryAlreadyHeld (409: this booking id already holds seats on one of the flights).
    No segments or a segment without passengers is a 422 validation_error.

    Seats are taken on every flight first (one statement per flight on PostgreSQL, see
    `inventory_repository.hold_seats`), then every flight is checked in the order the errors
    above are listed: an error leaves writes behind that the caller's transaction rolls back.
    Flushes; never commits. Flights are locked in flight-id order so two bookings over the
    same flights cannot deadlock.
    """
    _check_request(segments)
    flight_ids = sorted(segment.flight_id for segment in segments)
    if len(flight_ids) > 1:
        # Every flight locked before any cabin's counter is: a flight's cancellation locks
        # its row, then releases the seats of its bookings on all their flights.
        await inventory_repository.lock_flights(session, flight_ids)
    quantities = {segment.flight_id: len(segment.seats) for segment in segments}
    outcomes = {
        flight_id: await inventory_repository.hold_seats(
            session, flight_id, cabin=cabin, quantity=quantities[flight_id], booking_id=booking_id
        )
        for flight_id in flight_ids
    }
    flights = {fid: _bookable_flight(outcomes[fid].flight, fid, cabin) for fid in flight_ids}
    for flight in flights.values():
        hold_statement.remember_flight(flight)  # as read under its lock
    check_traffic_restrictions([flights[s.flight_id] for s in segments])
    seats = {s.flight_id: _checked_seats(flights[s.flight_id], cabin, s.seats) for s in segments}
    for flight_id in flight_ids:
        await _finish_hold(
            session,
            flights[flight_id],
            outcomes[flight_id],
            booking_id=booking_id,
            cabin=cabin,
            seats=seats[flight_id],
        )
    return [_held_segment(flights[s.flight_id], cabin, seats[s.flight_id]) for s in segments]


# --- one flight in one statement (PostgreSQL, inventory/hold_statement.py) -----------------


async def flight_to_hold(
    conn: AsyncConnection, flight_id: str, cabin: str, seats: list[str | None]
) -> tuple[FlightForBooking, HeldSegment]:
    """The flight as last read (`hold_statement.read_flight`) and what holding `seats` in
    `cabin` on it would hold, checked as `hold_inventory` checks a flight alone; its errors
    are raised on the flight as stored now (one refused as last read is read again first).
    `one_statement_hold` holds it if it is still so."""
    flight, now = await hold_statement.read_flight(conn, flight_id)
    if not now:
        try:
            return _to_hold(flight, flight_id, cabin, seats)
        except AppError:
            flight, now = await hold_statement.read_flight(conn, flight_id, again=True)
    return _to_hold(flight, flight_id, cabin, seats)


def _to_hold(
    flight: FlightForBooking | None, flight_id: str, cabin: str, seats: list[str | None]
) -> tuple[FlightForBooking, HeldSegment]:
    bookable = _bookable_flight(flight, flight_id, cabin)
    check_traffic_restrictions([bookable])
    return bookable, _held_segment(bookable, cabin, _checked_seats(bookable, cabin, seats))


def one_statement_hold(writes: Callable[[Any], Sequence[Any]]) -> Select[Any]:
    """The hold as read, with the caller's rows (`hold_statement.hold_statement`)."""
    return hold_statement.hold_statement(writes)


def one_statement_parameters(
    flight: FlightForBooking, *, cabin: str, quantity: int, booking_id: str
) -> dict[str, Any]:
    return hold_statement.hold_parameters(
        flight, cabin=cabin, quantity=quantity, booking_id=booking_id
    )


async def finish_one_statement_hold(
    session: AsyncSession, row: Any, flight: FlightForBooking, *, cabin: str, quantity: int
) -> bool:
    """After `one_statement_hold` ran (its answer `row`): True when it held the seats (the
    searches the sale made stale are dropped); 409 `seats_unavailable` when the flight was as
    read and the cabin short of seats; False when the flight or its fare changed since it was
    read (nothing written: hold it with `hold_inventory`)."""
    outcome = hold_statement.hold_at_once(row, flight, cabin)
    if outcome.taken:
        await invalidate_seat_searches(session, [_departure(flight)])
        return True
    if outcome.as_read and outcome.available < quantity:
        raise _seats_unavailable(flight, cabin, quantity, outcome.available)
    hold_statement.forget_flight(flight.id)
    return False


# --- releasing ---------------------------------------------------------------------------


async def release_inventory(
    session: AsyncSession, *, booking_id: str, cabin: str, flight_seat_counts: dict[str, int]
) -> None:
    """Gives the booking's seats back on the flights named in `flight_seat_counts`:
    sold -= the quantity this booking's hold row recorded (conditional, never below 0) and the
    booking's seat assignments are deleted.

    Idempotent per booking, also when called twice concurrently: the hold row is deleted
    first and only the call whose delete removed it gives seats back. The quantity and cabin
    come from the hold row (the truth of what was held); `cabin` and the counts given are only
    cross-checked (a mismatch is logged). A flight the booking holds nothing on is skipped.
    Flushes; never commits.
    """
    flight_ids = sorted(flight_seat_counts)
    holds = await inventory_repository.find_holds(session, booking_id, flight_ids)
    released: list[str] = []
    for flight_id in flight_ids:
        held = holds.get(flight_id)
        if held is None or not await inventory_repository.delete_hold(session, held.hold_id):
            continue
        if held.quantity != flight_seat_counts[flight_id] or held.cabin != cabin:
            log.warning(
                "release of booking %s on flight %s: asked %s x %s, held %s x %s",
                booking_id,
                flight_id,
                flight_seat_counts[flight_id],
                cabin,
                held.quantity,
                held.cabin,
            )
        await inventory_repository.return_seats(session, flight_id, held.cabin, held.quantity)
        await inventory_repository.delete_seat_assignments(session, booking_id, flight_id)
        await inventory_repository.refresh_cabins(session, flight_id)
        released.append(flight_id)
    if released:
        await invalidate_searches_for_flights(session, released)


async def bookings_holding_inventory(
    session: AsyncSession, *, held_before: datetime, limit: int = 500
) -> list[str]:
    """Ids of bookings that hold seats since before `held_before`, oldest first: lets the
    bookings sweeper find holds whose booking was never written (e.g. a crash between holding
    seats and writing the booking to MongoDB) and release them."""
    return await inventory_repository.bookings_with_holds(
        session, held_before=held_before, limit=limit
    )


# --- seat map ----------------------------------------------------------------------------


async def seat_map_for_flight(session: AsyncSession, flight_id: str) -> SeatMapRead:
    """The flight's seat map (GET /flights/{id}/seats), cabins front to back; 404
    flight_not_found.

    A seat is unavailable when it is assigned to a booking. Seats can also be sold without a
    chosen seat: those reduce each cabin's `seats_available` but show no seat as taken.
    """
    flight = await repository.get_flight(session, flight_id)
    if flight is None:
        raise FlightNotFound()
    taken = await inventory_repository.taken_seats(session, flight.id)
    cabins = {cabin.cabin: cabin for cabin in flight.cabins}
    return SeatMapRead(
        flight_id=flight.id,
        flight_number=flight.flight_number,
        aircraft=flight.aircraft,
        cabins=[_cabin_seat_map(layout, cabins[layout.cabin], taken) for layout in _layout(flight)],
    )


def _cabin_seat_map(layout: CabinLayout, cabin: FlightCabin, taken: set[str]) -> CabinSeatMapRead:
    return CabinSeatMapRead(
        cabin=layout.cabin,
        letters=list(layout.letters),
        rows=[
            SeatRowRead(
                row=row.number,
                seats=[SeatRead(seat=seat, available=seat not in taken) for seat in row.seats],
            )
            for row in layout.rows
        ],
        seats_total=cabin.capacity,
        seats_available=max(cabin.capacity - cabin.sold, 0),
    )
