"""Bookings: hold seats and create a booking, read and list them, cancel, confirm, expire.

Seats are held and released through the flights domain's inventory service; the booking
itself lives in the configured store (`stores.booking_repository`). Every change writes
its `booking.*` event to the outbox in the request's transaction.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from flightdeck.bookings.errors import (
    BookingNotCancellable,
    BookingNotFound,
    BookingNotPayable,
    HoldExpired,
)
from flightdeck.bookings.fare_rules import (
    describe_refund_rule,
    full_refund_deadline,
    refund_for_airline_cancellation,
    refund_for_cancellation,
)
from flightdeck.bookings.pnr import normalise_pnr
from flightdeck.bookings.records import (
    ACTIVE_STATUSES,
    CONFIRMED,
    EXPIRED,
    FLIGHT_CANCELLED_REASON,
    PASSENGER_CANCELLED_REASON,
    PENDING_PAYMENT,
    STAFF_CANCELLED_REASON,
    BookingCursor,
    BookingRecord,
)
from flightdeck.bookings.repository import BookingRepository
from flightdeck.bookings.schemas import (
    BookingCancellation,
    BookingRead,
    CancellationQuote,
    booking_to_read,
)
from flightdeck.bookings.stores import booking_repository
from flightdeck.flights.inventory.service import (
    release_inventory,
)
from flightdeck.platform.audit import record_audit
from flightdeck.platform.clock import utcnow
from flightdeck.platform.errors import Unprocessable
from flightdeck.platform.events.outbox import RecordedEvent, new_event, write_event
from flightdeck.platform.money import Money
from flightdeck.platform.pagination import Page, PageParams, cursor_instant, encode_cursor
from flightdeck.platform.security.auth import Principal

BOOKING_CREATED = "booking.created"
BOOKING_CONFIRMED = "booking.confirmed"
BOOKING_CANCELLED = "booking.cancelled"
BOOKING_EXPIRED = "booking.expired"
_CANCEL_ATTEMPTS = 3

RefundRule = Callable[[BookingRecord], Money | None]
# Pays a cancelled booking's refund back (the payments domain registers one in create_app).
RefundHandler = Callable[[AsyncSession, BookingRecord], Awaitable[None]]
_refund_handlers: list[RefundHandler] = []


def register_refund_handler(handler: RefundHandler) -> None:
    """Adds a handler run in the cancellation's transaction for every cancelled booking with
    a refund (once per handler, however often it is registered)."""
    if handler not in _refund_handlers:
        _refund_handlers.append(handler)


def booking_now() -> datetime:
    """The clock's now in whole milliseconds: what every booking store keeps (MongoDB's
    dates are milliseconds), so a booking reads back exactly as it was returned."""
    now = utcnow()
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


# --- read --------------------------------------------------------------------------------


async def get_booking(session: AsyncSession, principal: Principal, reference: str) -> BookingRead:
    """The booking by id or PNR (any case), to its owner and staff; 404 otherwise."""
    booking = await _visible_booking(booking_repository(session), principal, reference)
    return booking_to_read(booking, viewer_id=principal.user_id)


async def list_bookings(
    session: AsyncSession, principal: Principal, params: PageParams
) -> Page[BookingRead]:
    """The caller's own bookings, newest first."""
    after = _decode_cursor(params.cursor)
    records = await booking_repository(session).list_for_user(
        principal.user_id, limit=params.limit + 1, after=after
    )
    items = records[: params.limit]
    next_cursor = None
    if len(records) > params.limit:
        last = items[-1]
        next_cursor = encode_cursor([last.created_at.isoformat(), last.id])
    return Page(
        items=[booking_to_read(b, viewer_id=principal.user_id) for b in items],
        next_cursor=next_cursor,
    )


def _decode_cursor(values: list[Any] | None) -> BookingCursor | None:
    if values is None:
        return None
    try:
        created_at, booking_id = values
        return BookingCursor(created_at=cursor_instant(created_at), id=str(booking_id))
    except (TypeError, ValueError) as exc:
        raise Unprocessable(
            "cursor: not a cursor this server issued", code="invalid_cursor"
        ) from exc


async def _visible_booking(
    repo: BookingRepository, principal: Principal, reference: str
) -> BookingRecord:
    pnr = normalise_pnr(reference)
    booking = await (repo.get_by_pnr(pnr) if pnr else repo.get(reference))
    # Another passenger's booking is indistinguishable from a missing one.
    if booking is None or not (principal.is_staff or booking.user_id == principal.user_id):
        raise BookingNotFound()
    return booking


# --- cancel ------------------------------------------------------------------------------


async def quote_cancellation(
    session: AsyncSession, principal: Principal, reference: str
) -> CancellationQuote:
    """What `cancel_booking` would pay back now, by the same fare rules; changes nothing.
    404 as `get_booking`."""
    booking = await _visible_booking(booking_repository(session), principal, reference)
    now = booking_now()
    paid = booking.status == CONFIRMED
    return CancellationQuote(
        cancellable=booking.status in ACTIVE_STATUSES,
        refund=refund_for_cancellation(booking, now),
        full_refund_until=full_refund_deadline(booking) if paid else None,
        rule=describe_refund_rule(booking, now),
    )


async def cancel_booking(
    session: AsyncSession, principal: Principal, reference: str
) -> BookingCancellation:
    """Cancels the booking (owner or staff): seats back to inventory, the refund per fare
    rules recorded (None when unpaid), event `booking.cancelled`. 404 as `get_booking`;
    409 `booking_not_cancellable` once cancelled or expired."""
    repo = booking_repository(session)
    booking = await _visible_booking(repo, principal, reference)
    now = booking_now()
    reason = (
        PASSENGER_CANCELLED_REASON
        if booking.user_id == principal.user_id
        else STAFF_CANCELLED_REASON
    )
    cancelled = await _cancel(
        session,
        repo,
        booking,
        now=now,
        reason=reason,
        refund_rule=lambda b: refund_for_cancellation(b, now),
        actor_id=principal.user_id,
    )
    if cancelled is None:
        raise BookingNotCancellable(
            f"A booking that is {booking.status} cannot be cancelled",
            details={"status": booking.status},
        )
    if reason == STAFF_CANCELLED_REASON:
        await record_audit(
            session,
            action="cancel",
            entity="booking",
            entity_id=cancelled.id,
            before={"pnr": booking.pnr, "status": booking.status},
            after={
                "pnr": cancelled.pnr,
                "status": cancelled.status,
                "refund": cancelled.refund_amount.model_dump() if cancelled.refund_amount else None,
            },
        )
    return BookingCancellation(
        refund=cancelled.refund_amount,
        booking=booking_to_read(cancelled, viewer_id=principal.user_id),
    )


async def cancel_bookings_on_flight(
    session: AsyncSession, flight_id: str, *, actor_id: str | None, reason: str | None
) -> int:
    """Flight-cancellation handler (registered with the flights domain): cancels every active
    booking with a segment on the flight, in the flight's transaction, refunding paid ones
    in full; returns how many it cancelled."""
    repo = booking_repository(session)
    now = booking_now()
    cancelled = 0
    for booking in await repo.list_active_on_flight(flight_id):
        outcome = await _cancel(
            session,
            repo,
            booking,
            now=now,
            reason=FLIGHT_CANCELLED_REASON,
            refund_rule=refund_for_airline_cancellation,
            actor_id=actor_id,
            extra={"flight_id": flight_id, "detail": reason},
        )
        cancelled += outcome is not None
    return cancelled


async def _cancel(
    session: AsyncSession,
    repo: BookingRepository,
    booking: BookingRecord,
    *,
    now: datetime,
    reason: str,
    refund_rule: RefundRule,
    actor_id: str | None,
    extra: dict[str, Any] | None = None,
) -> BookingRecord | None:
    """Cancels an active booking with the refund computed for the status it is in (retried
    if a payment or expiry changed it meanwhile); None when it is no longer active."""
    current: BookingRecord | None = booking
    for _ in range(_CANCEL_ATTEMPTS):
        if current is None or current.status not in ACTIVE_STATUSES:
            return None
        cancelled = await repo.cancel(
            current.id,
            from_status=current.status,
            at=now,
            reason=reason,
            refund=refund_rule(current),
        )
        if cancelled is not None:
            await _release_seats(session, cancelled)
            await _record(session, BOOKING_CANCELLED, cancelled, actor_id, extra)
            if cancelled.refund_amount is not None:
                for handler in _refund_handlers:
                    await handler(session, cancelled)
            return cancelled
        current = await repo.get(current.id)
    return None


# --- payments and expiry -----------------------------------------------------------------


async def get_booking_for_payment(
    session: AsyncSession, booking_id: str, user_id: str
) -> BookingRecord:
    """The user's booking, ready to pay: 404 `booking_not_found` unless it is theirs;
    409 `hold_expired` when its hold has run out; 409 `booking_not_payable` unless it is
    pending payment."""
    booking = await booking_repository(session).get(booking_id)
    if booking is None or booking.user_id != user_id:
        raise BookingNotFound()
    _check_payable(booking, booking_now())
    return booking


async def confirm_booking(session: AsyncSession, booking_id: str, payment_id: str) -> BookingRecord:
    """pending_payment → confirmed after a successful payment (conditional, so a confirmation
    and an expiry never both win), with event `booking.confirmed`. Confirming again with the
    same payment returns the booking. 404 `booking_not_found`, 409 `hold_expired`,
    409 `booking_not_payable`."""
    repo = booking_repository(session)
    now = booking_now()
    confirmed = await repo.confirm(booking_id, payment_id=payment_id, at=now)
    if confirmed is not None:
        await _record(session, BOOKING_CONFIRMED, confirmed, None, {"payment_id": payment_id})
        return confirmed
    booking = await repo.get(booking_id)
    if booking is None:
        raise BookingNotFound()
    if booking.status == CONFIRMED and booking.payment_id == payment_id:
        return booking
    _check_payable(booking, now)
    # Pending and within its hold, yet the conditional update missed: it changed meanwhile.
    raise BookingNotPayable()


def _check_payable(booking: BookingRecord, now: datetime) -> None:
    if booking.status == EXPIRED or (
        booking.status == PENDING_PAYMENT and booking.hold_expires_at <= now
    ):
        raise HoldExpired(
            details={"booking_id": booking.id, "hold_expires_at": str(booking.hold_expires_at)}
        )
    if booking.status != PENDING_PAYMENT:
        raise BookingNotPayable(
            f"A booking that is {booking.status} cannot be paid",
            details={"status": booking.status},
        )


async def expire_booking(
    session: AsyncSession,
    booking_id: str,
    now: datetime,
    *,
    store: BookingRepository | None = None,
) -> bool:
    """pending_payment → expired if its hold ran out by `now` (conditional: of concurrent
    sweepers one wins), seats released, event `booking.expired`. False if it did not apply.
    `store`: the booking store (default: the one the session's settings name)."""
    store = store or booking_repository(session)
    expired = await store.expire(booking_id, at=now)
    if expired is None:
        return False
    await _release_seats(session, expired)
    await _record(session, BOOKING_EXPIRED, expired, None)
    return True


async def _release_seats(session: AsyncSession, booking: BookingRecord) -> None:
    await release_inventory(
        session,
        booking_id=booking.id,
        cabin=booking.cabin,
        flight_seat_counts=booking.seat_counts,
    )


async def _record(
    session: AsyncSession,
    event_type: str,
    booking: BookingRecord,
    actor_id: str | None,
    extra: dict[str, Any] | None = None,
) -> None:
    await write_event(session, booking_event(event_type, booking, actor_id, extra))


def booking_event(
    event_type: str,
    booking: BookingRecord,
    actor_id: str | None,
    extra: dict[str, Any] | None = None,
) -> RecordedEvent:
    """The booking's `booking.*` event of that type (its payload: the booking's state)."""
    payload: dict[str, Any] = {
        "booking_id": booking.id,
        "pnr": booking.pnr,
        "user_id": booking.user_id,
        "status": booking.status,
        "flight_ids": booking.flight_ids,
        "total": booking.total_price.model_dump(),
    }
    if booking.cancelled_at is not None:
        payload["reason"] = booking.cancellation_reason
        payload["refund"] = booking.refund_amount.model_dump() if booking.refund_amount else None
    payload.update(extra or {})
    return new_event(
        event_type,
        aggregate_type="booking",
        aggregate_id=booking.id,
        payload=payload,
        actor_id=actor_id,
    )


async def user_ids_booked_on_flight(session: AsyncSession, flight_id: str) -> list[str]:
    """Distinct users holding an active (pending_payment or confirmed) booking on the flight."""
    bookings = await booking_repository(session).list_active_on_flight(flight_id)
    return list(dict.fromkeys(booking.user_id for booking in bookings))


async def flight_ids_for_user(session: AsyncSession, user_id: str) -> list[str]:
    """Flights on the user's active bookings (a WebSocket follows these when it connects)."""
    bookings = await booking_repository(session).list_active_for_user(user_id)
    return list(dict.fromkeys(flight for booking in bookings for flight in booking.flight_ids))
