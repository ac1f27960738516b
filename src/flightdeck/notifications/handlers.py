"""Events → notifications. `notifications/module.py` subscribes them to the bus:
- group "notifications" (competing: one process handles each event), idempotent by event id:
  flight status changes and booking/payment events become inbox rows for the users concerned,
  with the `handle_once` marker in the same transaction;
- group "notifications": `notification.created` → the emails of that batch (after the inbox
  transaction has committed, since the relay publishes only committed events);
- broadcast: every event reaches this process's WebSocket hub.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from flightdeck.bookings import service as bookings_service
from flightdeck.flights.status import service as flight_status_service
from flightdeck.notifications import texts
from flightdeck.notifications.email import Mailer
from flightdeck.notifications.models import Notification
from flightdeck.notifications.service import (
    NotificationContent,
    deliver_batch_emails,
    notify_users,
)
from flightdeck.platform.errors import NotFound
from flightdeck.platform.events.bus import Event
from flightdeck.platform.events.consumers import idempotent_handler

log = logging.getLogger(__name__)

GROUP = "notifications"
INBOX_CONSUMER = "notifications.inbox"

FLIGHT_STATUS_CHANGED = "flight.status_changed"
# A schedule change (API or SSM) kept a booked flight that no longer matches the schedule.
FLIGHT_SCHEDULE_CHANGED = "flight.schedule_changed"
BOOKING_CONFIRMED = "booking.confirmed"
BOOKING_CANCELLED = "booking.cancelled"
BOOKING_EXPIRED = "booking.expired"
PAYMENT_REFUNDED = "payment.refunded"
# The bookings domain's reason for a booking cancelled with its flight.
FLIGHT_CANCELLED_REASON = "flight_cancelled"

# Flight fields a flight notification carries in `data`, for clients.
_FLIGHT_DATA_FIELDS = (
    "flight_id",
    "flight_number",
    "origin",
    "destination",
    "status",
    "scheduled_departure",
    "estimated_departure",
    "estimated_arrival",
    "delay_minutes",
    "gate",
    "terminal",
    "diverted_to",
)

Planned = tuple[list[str], NotificationContent]
Planner = Callable[[AsyncSession, Event], Awaitable[Planned | None]]


# --- flights -----------------------------------------------------------------------------


def flight_change_kind(payload: Mapping[str, Any]) -> str | None:
    """The notification a status change calls for, or None (most changes call for none)."""
    changed = payload.get("changed") or {}
    status = payload.get("status")
    if status == "cancelled" and "status" in changed:
        return "flight.cancelled"
    if status == "diverted" and ("status" in changed or "diverted_to" in changed):
        return "flight.diverted"
    if status == "delayed" and ("status" in changed or "estimated_departure" in changed):
        return "flight.delayed"
    if "gate" in changed and payload.get("gate"):
        return "flight.gate_changed"
    return None


async def flight_details(session: AsyncSession, flight_id: str) -> dict[str, Any]:
    """The flight's live status as the API shows it (local offsets); {} if it is gone."""
    try:
        status = await flight_status_service.get_flight_status(session, flight_id)
    except NotFound:
        return {"flight_id": flight_id}
    return status.model_dump(mode="json")


def _flight_data(flight: Mapping[str, Any]) -> dict[str, Any]:
    return {name: flight.get(name) for name in _FLIGHT_DATA_FIELDS}


async def plan_flight_status_changed(session: AsyncSession, event: Event) -> Planned | None:
    """Delayed, cancelled, diverted or a new gate → every passenger booked on the flight."""
    payload = event.payload
    kind = flight_change_kind(payload)
    if kind is None:
        return None
    flight_id = str(payload["flight_id"])
    # The event's fields describe the flight as it was at the change; the rest from now.
    flight = {**await flight_details(session, flight_id), **payload}
    if kind == "flight.cancelled":
        title, message = texts.flight_cancelled(flight)
    elif kind == "flight.diverted":
        title, message = texts.flight_diverted(flight)
    elif kind == "flight.delayed":
        title, message = texts.flight_delayed(flight)
    else:
        old_gate = (payload.get("changed") or {}).get("gate", {}).get("from")
        title, message = texts.flight_gate_changed(flight, old_gate)
    user_ids = await bookings_service.user_ids_booked_on_flight(session, flight_id)
    return user_ids, NotificationContent(kind, title, message, _flight_data(flight))


async def plan_flight_schedule_changed(session: AsyncSession, event: Event) -> Planned | None:
    """A booked flight its schedule no longer matches → every passenger booked on it."""
    payload = event.payload
    flight_id = str(payload["flight_id"])
    flight = {**await flight_details(session, flight_id), **payload}
    difference = str(payload.get("difference") or "")
    title, message = texts.flight_schedule_changed(flight, difference)
    user_ids = await bookings_service.user_ids_booked_on_flight(session, flight_id)
    data = {**_flight_data(flight), "difference": difference}
    return user_ids, NotificationContent(FLIGHT_SCHEDULE_CHANGED, title, message, data)


# --- bookings and payments ---------------------------------------------------------------


async def _booking_flights(
    session: AsyncSession, payload: Mapping[str, Any]
) -> list[dict[str, Any]]:
    return [await flight_details(session, str(f)) for f in payload.get("flight_ids") or ()]


def _booking_data(payload: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "booking_id": payload.get("booking_id"),
        "pnr": payload.get("pnr"),
        "status": payload.get("status"),
        "flight_ids": list(payload.get("flight_ids") or ()),
    }


async def plan_booking_event(session: AsyncSession, event: Event) -> Planned | None:
    """Booking confirmed, cancelled or expired → the booking's user. A booking cancelled
    because its flight was becomes one `flight.cancelled` notification, with the refund."""
    payload = event.payload
    user_id, pnr = payload.get("user_id"), str(payload.get("pnr") or "")
    if not user_id:
        return None
    data = _booking_data(payload)
    if event.type == BOOKING_CANCELLED and payload.get("reason") == FLIGHT_CANCELLED_REASON:
        flight = await flight_details(session, str(payload.get("flight_id")))
        title, message = texts.flight_cancelled(flight, pnr=pnr)
        message += texts.refund_sentence(payload.get("refund"))
        data = {**_flight_data(flight), **data, "refund": payload.get("refund")}
        return [str(user_id)], NotificationContent("flight.cancelled", title, message, data)
    flights = await _booking_flights(session, payload)
    if event.type == BOOKING_CONFIRMED:
        title, message = texts.booking_confirmed(pnr, flights, payload.get("total"))
    elif event.type == BOOKING_CANCELLED:
        title, message = texts.booking_cancelled(pnr, flights, payload.get("refund"))
        data["refund"] = payload.get("refund")
    else:
        title, message = texts.booking_expired(pnr, flights)
    return [str(user_id)], NotificationContent(event.type, title, message, data)


async def plan_payment_refunded(session: AsyncSession, event: Event) -> Planned | None:
    """A refund → the paying user."""
    payload = event.payload
    user_id = payload.get("user_id")
    if not user_id:
        log.warning("payment.refunded event %s names no user_id; no notification", event.id)
        return None
    amount = payload.get("refund") or payload.get("amount")
    title, message = texts.payment_refunded(payload.get("pnr"), amount)
    data = {
        "payment_id": payload.get("payment_id"),
        "booking_id": payload.get("booking_id"),
        "pnr": payload.get("pnr"),
        "amount": amount,
    }
    return [str(user_id)], NotificationContent(event.type, title, message, data)


PLANNERS: dict[str, Planner] = {
    FLIGHT_STATUS_CHANGED: plan_flight_status_changed,
    FLIGHT_SCHEDULE_CHANGED: plan_flight_schedule_changed,
    BOOKING_CONFIRMED: plan_booking_event,
    BOOKING_CANCELLED: plan_booking_event,
    BOOKING_EXPIRED: plan_booking_event,
    PAYMENT_REFUNDED: plan_payment_refunded,
}


async def notify_for_event(
    session: AsyncSession, event: Event, *, email_enabled: bool
) -> list[Notification]:
    """The notifications an event calls for, added in the session's transaction."""
    planner = PLANNERS.get(event.type)
    planned = await planner(session, event) if planner is not None else None
    if planned is None:
        return []
    user_ids, content = planned
    return await notify_users(
        session,
        user_ids,
        content,
        email_enabled=email_enabled,
        source_event_id=event.id,
        actor_id=event.actor_id,
    )


# --- wiring ------------------------------------------------------------------------------


def inbox_handler(
    sessionmaker: async_sessionmaker[AsyncSession], mailer: Mailer
) -> Callable[[Event], Awaitable[None]]:
    """Bus handler: the event's notifications, once per event id (marker in the same
    transaction as the inbox rows and their `notification.created` event)."""

    async def add_notifications(session: AsyncSession, event: Event) -> None:
        await notify_for_event(session, event, email_enabled=mailer.enabled)

    return idempotent_handler(sessionmaker, INBOX_CONSUMER, add_notifications)


def email_handler(
    sessionmaker: async_sessionmaker[AsyncSession], mailer: Mailer
) -> Callable[[Event], Awaitable[None]]:
    """Bus handler: emails a committed batch of notifications (each at most once)."""

    async def send_batch_emails(event: Event) -> None:
        batch_id = event.payload.get("batch_id")
        if batch_id:
            await deliver_batch_emails(sessionmaker, mailer, str(batch_id))

    return send_batch_emails
