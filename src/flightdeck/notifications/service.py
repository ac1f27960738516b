"""Notifications: create them for users (with a `notification.created` event), read and mark
the inbox, and email the ones whose users want email.

Creating a notification writes the inbox rows and the `notification.created` outbox event in
the caller's transaction. That event, once committed and published, drives both deliveries:
the WebSocket hubs push it to connected users, and `deliver_batch_emails` (a competing bus
consumer) sends the emails — so no email is ever sent for a transaction that rolls back.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from flightdeck.bookings import service as bookings_service
from flightdeck.flights import service as flights_service
from flightdeck.notifications.email import Mailer, render_email
from flightdeck.notifications.errors import NotificationNotFound, RecipientNotFound
from flightdeck.notifications.models import (
    EMAIL_FAILED,
    EMAIL_NOT_WANTED,
    EMAIL_PENDING,
    EMAIL_SENT,
    Notification,
)
from flightdeck.notifications.repository import NotificationRepository
from flightdeck.notifications.schemas import (
    NotificationCreate,
    NotificationRead,
    NotificationSent,
    ReadAllResult,
    notification_to_read,
)
from flightdeck.platform.audit import record_audit
from flightdeck.platform.clock import utcnow
from flightdeck.platform.db import new_id
from flightdeck.platform.errors import Unprocessable
from flightdeck.platform.events.outbox import record_event
from flightdeck.platform.pagination import Page, PageParams, cursor_instant, encode_cursor
from flightdeck.platform.security.auth import Principal
from flightdeck.users.service import UserContact, contacts_for

log = logging.getLogger(__name__)

NOTIFICATION_CREATED = "notification.created"
STAFF_MESSAGE_KIND = "message"
# Recipients per `notification.created` event, so one event stays well under broker limits.
RECIPIENTS_PER_EVENT = 500
# A sender that claimed emails and died leaves them "sending"; after this they are retried.
EMAIL_CLAIM_LEASE = timedelta(minutes=10)
EMAIL_CONCURRENCY = 4


@dataclass(frozen=True)
class NotificationContent:
    kind: str  # "flight.delayed", "booking.confirmed", "message", ...
    title: str
    message: str
    data: dict[str, Any] = field(default_factory=dict)


def wants_email(contact: UserContact) -> bool:
    return contact.notification_preferences.get("email", True) is True


# --- create ------------------------------------------------------------------------------


async def notify_users(
    session: AsyncSession,
    user_ids: Collection[str],
    content: NotificationContent,
    *,
    email_enabled: bool,
    source_event_id: str | None = None,
    actor_id: str | None = None,
) -> list[Notification]:
    """Adds the notification to the inbox of each active user among `user_ids` (once per
    user) and records `notification.created` in the caller's transaction. Emails are marked
    pending for users whose preferences allow email, when `email_enabled`."""
    contacts = await contacts_for(session, user_ids)
    recipients = [user_id for user_id in dict.fromkeys(user_ids) if user_id in contacts]
    if not recipients:
        return []
    batch_id, now = new_id(), utcnow()
    rows = [
        Notification(
            id=new_id(),
            user_id=user_id,
            kind=content.kind,
            title=content.title,
            message=content.message,
            data=dict(content.data),
            batch_id=batch_id,
            source_event_id=source_event_id,
            created_at=now,
            email_state=(
                EMAIL_PENDING
                if email_enabled and wants_email(contacts[user_id])
                else EMAIL_NOT_WANTED
            ),
        )
        for user_id in recipients
    ]
    await NotificationRepository(session).add_all(rows)
    await _record_created(session, rows, content, batch_id=batch_id, at=now, actor_id=actor_id)
    return rows


async def _record_created(
    session: AsyncSession,
    rows: list[Notification],
    content: NotificationContent,
    *,
    batch_id: str,
    at: datetime,
    actor_id: str | None,
) -> None:
    for start in range(0, len(rows), RECIPIENTS_PER_EVENT):
        chunk = rows[start : start + RECIPIENTS_PER_EVENT]
        await record_event(
            session,
            NOTIFICATION_CREATED,
            aggregate_type="notification",
            aggregate_id=batch_id,
            payload={
                "batch_id": batch_id,
                "kind": content.kind,
                "title": content.title,
                "message": content.message,
                "data": content.data,
                "created_at": at.isoformat(),
                "recipients": [{"user_id": n.user_id, "notification_id": n.id} for n in chunk],
            },
            actor_id=actor_id,
        )


async def send_notification(
    session: AsyncSession, principal: Principal, data: NotificationCreate, *, email_enabled: bool
) -> NotificationSent:
    """Staff message to one user (404 `user_not_found` unless active) or to every passenger
    booked on a flight (404 `flight_not_found`); returns how many users it reached."""
    extra: dict[str, Any] = {}
    if data.flight_id is not None:
        flight = await flights_service.get_flight(session, data.flight_id)
        user_ids = await bookings_service.user_ids_booked_on_flight(session, flight.id)
        extra = {"flight_id": flight.id, "flight_number": flight.flight_number}
    elif data.user_id is not None:
        if data.user_id not in await contacts_for(session, [data.user_id]):
            raise RecipientNotFound()
        user_ids = [data.user_id]
    else:  # the schema guarantees one of them
        raise Unprocessable("give exactly one of user_id and flight_id")
    content = NotificationContent(STAFF_MESSAGE_KIND, data.title, data.message, extra)
    rows = await notify_users(
        session, user_ids, content, email_enabled=email_enabled, actor_id=principal.user_id
    )
    await record_audit(
        session,
        action="send",
        entity="notification",
        entity_id=rows[0].batch_id if rows else new_id(),
        after={
            "title": data.title,
            "message": data.message,
            "user_id": data.user_id,
            "flight_id": data.flight_id,
            "recipients": len(rows),
        },
    )
    return NotificationSent(recipients=len(rows))


# --- inbox -------------------------------------------------------------------------------


def _decode_cursor(values: list[Any] | None) -> tuple[datetime, str] | None:
    if values is None:
        return None
    try:
        created_at, notification_id = values
        return cursor_instant(created_at), str(notification_id)
    except (TypeError, ValueError) as exc:
        raise Unprocessable(
            "cursor: not a cursor this server issued", code="invalid_cursor"
        ) from exc


async def list_inbox(
    session: AsyncSession, principal: Principal, params: PageParams, *, unread_only: bool
) -> Page[NotificationRead]:
    """The caller's notifications, newest first; only unread ones when `unread_only`."""
    rows = await NotificationRepository(session).list_for_user(
        principal.user_id,
        limit=params.limit + 1,
        unread_only=unread_only,
        after=_decode_cursor(params.cursor),
    )
    items = rows[: params.limit]
    next_cursor = None
    if len(rows) > params.limit:
        last = items[-1]
        next_cursor = encode_cursor([last.created_at.isoformat(), last.id])
    return Page(items=[notification_to_read(n) for n in items], next_cursor=next_cursor)


async def mark_read(
    session: AsyncSession, principal: Principal, notification_id: str
) -> NotificationRead:
    """Marks the caller's notification read (again: unchanged); another user's is a 404."""
    repo = NotificationRepository(session)
    notification = await repo.get_for_user(principal.user_id, notification_id)
    if notification is None:
        raise NotificationNotFound()
    await repo.mark_read(notification, utcnow())
    return notification_to_read(notification)


async def mark_all_read(session: AsyncSession, principal: Principal) -> ReadAllResult:
    updated = await NotificationRepository(session).mark_all_read(principal.user_id, utcnow())
    return ReadAllResult(updated=updated)


# --- email -------------------------------------------------------------------------------


async def deliver_batch_emails(
    sessionmaker: async_sessionmaker[AsyncSession], mailer: Mailer, batch_id: str
) -> int:
    """Emails the batch's notifications still waiting for email, each at most once: they are
    claimed in one short transaction, sent outside any transaction, and their outcome stored
    after. Returns how many were sent. Send failures are retried by the mailer, then logged."""
    if not mailer.enabled:
        return 0
    now = utcnow()
    async with sessionmaker() as session, session.begin():
        claimed = await NotificationRepository(session).claim_for_email(
            batch_id, now=now, stale_before=now - EMAIL_CLAIM_LEASE
        )
        contacts = await contacts_for(session, {n.user_id for n in claimed})
    if not claimed:
        return 0
    limit = asyncio.Semaphore(EMAIL_CONCURRENCY)

    async def email_one(notification: Notification) -> tuple[str, int]:
        contact = contacts.get(notification.user_id)
        if contact is None or not wants_email(contact):
            return EMAIL_NOT_WANTED, 0  # deactivated, or opted out since
        async with limit:
            sent, attempts = await mailer.send(render_email(notification, contact, mailer.sender))
        return (EMAIL_SENT if sent else EMAIL_FAILED), attempts

    outcomes = await asyncio.gather(*(email_one(n) for n in claimed))
    async with sessionmaker() as session, session.begin():
        repo = NotificationRepository(session)
        for notification, (state, attempts) in zip(claimed, outcomes, strict=True):
            await repo.finish_email(notification.id, state=state, attempts=attempts, at=utcnow())
    return sum(state == EMAIL_SENT for state, _ in outcomes)
