"""Creating a booking: its seats held and its record stored with its `booking.created`
event, under a fresh PNR, all or nothing.

Two ways, one outcome:
- In the request's transaction, for any booking, store and database: the seats held on every
  flight through the inventory service (`hold_inventory`), then the booking stored (`add`),
  drawing another PNR while the one drawn is taken.
- In one statement, on PostgreSQL with the SQL store, for a booking of one flight with no
  chosen seat, made first in its session (nothing read or claimed in it before, as with no
  Idempotency-Key): the flight read and checked as `hold_inventory` checks it, the booking
  priced from it, then the seats, the hold and every row of the booking written in one
  statement in autocommit, on condition that the flight is still as read
  (flights/inventory/hold_statement.py). One round trip once this process has read the
  flight (two before) where a transaction takes four (BEGIN, the hold, the booking, COMMIT),
  each ~70-90 µs of the server's CPU. A flight changed since the read
  (a status, a time, a fare) or a PNR taken writes nothing, and the booking is made the
  first way; a cabin short of seats is the same 409. With an Idempotency-Key (as the app
  sends), the key's row and its response are written in that statement too
  (`create_booking_claiming`); a key met there, a changed flight or any error writes nothing
  and hands the request to the first way with the key claimed in its transaction, which
  replays a stored answer and raises the errors.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from itertools import pairwise
from typing import Any, TypeGuard

from sqlalchemy.ext.asyncio import AsyncSession

from flightdeck.bookings.errors import MixedCurrencies, SegmentsNotConsecutive
from flightdeck.bookings.pnr import generate_pnr
from flightdeck.bookings.records import (
    PENDING_PAYMENT,
    BookingRecord,
    PassengerRecord,
    SegmentRecord,
)
from flightdeck.bookings.repository import BookingRepository, PnrTaken
from flightdeck.bookings.repository_sql import SqlBookingRepository
from flightdeck.bookings.schemas import BookingCreate, BookingRead, booking_to_read
from flightdeck.bookings.service import BOOKING_CREATED, booking_event, booking_now
from flightdeck.bookings.stores import booking_repository
from flightdeck.flights.inventory.service import (
    HeldSegment,
    SegmentRequest,
    finish_one_statement_hold,
    flight_to_hold,
    hold_inventory,
    one_statement_parameters,
)
from flightdeck.platform.db import STATEMENT_WRITE_OPTIONS, new_id
from flightdeck.platform.errors import AppError
from flightdeck.platform.idempotency import KeyClaimed
from flightdeck.platform.money import Money
from flightdeck.platform.security.auth import Principal
from flightdeck.platform.settings import Settings

_PNR_ATTEMPTS = 8
# The Idempotency-Key's row (`KeyClaim.row`) with the booking made as its stored response.
KeyRow = Callable[[BookingRead], dict[str, Any]]


async def create_booking(
    session: AsyncSession, principal: Principal, data: BookingCreate, *, hold_minutes: int
) -> BookingRead:
    """Holds the seats on every segment (all or none) and stores a `pending_payment` booking
    with a fresh PNR, holding until now + `hold_minutes`. Inventory errors (422
    unknown_flight/cabin_not_offered/invalid_seat/duplicate_seat/duplicate_segment, 409
    flight_not_bookable/seats_unavailable/seat_unavailable) pass through; 422
    segments_not_consecutive, 422 mixed_currencies."""
    booking_id = new_id()
    segments = _segment_requests(data)
    repo = booking_repository(session)
    if _one_statement_applies(repo, segments):
        made = await _create_in_one_statement(
            repo, principal, data, segments[0], booking_id, hold_minutes
        )
        if made is not None:
            return made
    held = await hold_inventory(session, booking_id=booking_id, cabin=data.cabin, segments=segments)
    _check_consecutive(held)
    booking = _new_booking(booking_id, principal, data, held, hold_minutes)
    # Seats are held (SQL) before the store write: a failed write rolls the hold back.
    booking = await _add_with_unique_pnr(repo, booking, principal)
    return booking_to_read(booking, viewer_id=principal.user_id)


async def create_booking_claiming(
    session: AsyncSession,
    principal: Principal,
    data: BookingCreate,
    key_row: KeyRow,
    *,
    hold_minutes: int,
) -> BookingRead | None:
    """`create_booking` in one statement that also claims the request's Idempotency-Key
    (`key_row`: the key's row with the booking as its stored response); None when that way
    does not apply or wrote nothing (a key with a row already, the flight changed since it
    was read, a taken PNR, an error such as seats unavailable): then the key is claimed in a
    transaction and the booking made there (`create_booking`), where a replay, a reused key
    or the error is answered."""
    segments = _segment_requests(data)
    repo = booking_repository(session)
    if not _one_statement_applies(repo, segments):
        return None
    try:
        return await _create_in_one_statement(
            repo, principal, data, segments[0], new_id(), hold_minutes, key_row
        )
    except AppError:
        await session.rollback()
        return None


def brief_hold(data: BookingCreate, settings: Settings) -> bool:
    """Whether the hold is a brief write (`platform/db.write_slot`): one statement, one
    round trip (`_one_statement_applies`): one flight, no chosen seat, the SQL store on
    PostgreSQL. Anything else is a transaction of several round trips (on SQLite, under its
    one writer's lock; fewer at once measured no better there)."""
    return (
        not settings.bookings_store_url
        and not settings.is_sqlite
        and _one_flight_no_seat(_segment_requests(data))
    )


def _one_flight_no_seat(segments: list[SegmentRequest]) -> bool:
    return len(segments) == 1 and all(seat is None for seat in segments[0].seats)


def _one_statement_applies(
    repo: BookingRepository, segments: list[SegmentRequest]
) -> TypeGuard[SqlBookingRepository]:
    """Whether the booking can be made in one statement: the SQL store on PostgreSQL, one
    flight, no chosen seat, nothing read or claimed in the session yet."""
    if not isinstance(repo, SqlBookingRepository):
        return False
    session = repo.session
    return (
        _one_flight_no_seat(segments)
        and not session.in_transaction()
        and session.get_bind().dialect.name == "postgresql"
    )


async def _create_in_one_statement(
    repo: SqlBookingRepository,
    principal: Principal,
    data: BookingCreate,
    segment: SegmentRequest,
    booking_id: str,
    hold_minutes: int,
    key_row: KeyRow | None = None,
) -> BookingRead | None:
    """The booking, held and stored in one statement (with the Idempotency-Key's row and the
    booking as its response, if given); None when nothing was written and it is to be made in a
    transaction (the flight changed since it was read, the PNR or the key is taken)."""
    session = repo.session
    conn = await session.connection(execution_options=STATEMENT_WRITE_OPTIONS)
    flight, held = await flight_to_hold(conn, segment.flight_id, data.cabin, segment.seats)
    booking = _new_booking(booking_id, principal, data, [held], hold_minutes)
    made = booking_to_read(booking, viewer_id=principal.user_id)
    quantity = len(segment.seats)
    hold = one_statement_parameters(
        flight, cabin=data.cabin, quantity=quantity, booking_id=booking_id
    )
    event = booking_event(BOOKING_CREATED, booking, principal.user_id)
    key = None if key_row is None else key_row(made)
    try:
        answer = await repo.hold_and_add(booking, event, hold, key)
    except (PnrTaken, KeyClaimed):
        answer = None
    if answer is not None and await finish_one_statement_hold(
        session, answer, flight, cabin=data.cabin, quantity=quantity
    ):
        return made
    await session.rollback()  # the session's next connection runs a transaction
    return None


def _new_booking(
    booking_id: str,
    principal: Principal,
    data: BookingCreate,
    held: list[HeldSegment],
    hold_minutes: int,
) -> BookingRecord:
    now = booking_now()
    return BookingRecord(
        id=booking_id,
        pnr=generate_pnr(),
        user_id=principal.user_id,
        status=PENDING_PAYMENT,
        cabin=data.cabin,
        total_price=_total_price(held, len(data.passengers)),
        hold_expires_at=now + timedelta(minutes=hold_minutes),
        segments=tuple(_segment_record(segment) for segment in held),
        passengers=tuple(
            PassengerRecord(
                first_name=p.first_name,
                last_name=p.last_name,
                date_of_birth=p.date_of_birth,
                passport_number=p.passport_number,
            )
            for p in data.passengers
        ),
        created_at=now,
        updated_at=now,
    )


def _segment_requests(data: BookingCreate) -> list[SegmentRequest]:
    """One inventory request per segment, with each passenger's seat on it (or None)."""
    seats = [p.seats_for(len(data.segments)) for p in data.passengers]
    return [
        SegmentRequest(flight_id=flight_id, seats=[mine[i] for mine in seats])
        for i, flight_id in enumerate(data.segments)
    ]


def _check_consecutive(held: list[HeldSegment]) -> None:
    for previous, segment in pairwise(held):
        if segment.origin != previous.destination or segment.departure_at <= previous.arrival_at:
            raise SegmentsNotConsecutive(
                f"{segment.flight_number} does not depart from {previous.destination} after "
                f"{previous.flight_number} arrives",
                details={"flight_id": segment.flight_id, "previous_flight_id": previous.flight_id},
            )


def _total_price(held: list[HeldSegment], passengers: int) -> Money:
    currencies = sorted({segment.fare.currency for segment in held})
    if len(currencies) > 1:
        raise MixedCurrencies(
            "The segments are priced in different currencies", details={"currencies": currencies}
        )
    total = Money(amount=0, currency=currencies[0])
    for segment in held:
        total = total + segment.fare.times(passengers)
    return total


def _segment_record(segment: HeldSegment) -> SegmentRecord:
    return SegmentRecord(
        flight_id=segment.flight_id,
        flight_number=segment.flight_number,
        origin=segment.origin,
        destination=segment.destination,
        departure_at=segment.departure_at,
        arrival_at=segment.arrival_at,
        fare=segment.fare,
        seats=tuple(segment.seats),
    )


async def _add_with_unique_pnr(
    repo: BookingRepository, booking: BookingRecord, principal: Principal
) -> BookingRecord:
    """Stores the booking with its `booking.created` event, under a fresh PNR while the one
    drawn is taken (the event names the PNR stored)."""
    for _ in range(_PNR_ATTEMPTS):
        try:
            await repo.add(booking, booking_event(BOOKING_CREATED, booking, principal.user_id))
            return booking
        except PnrTaken:
            booking = replace(booking, pnr=generate_pnr())
    raise RuntimeError("no free PNR after several attempts")
