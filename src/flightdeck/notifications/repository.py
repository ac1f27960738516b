"""All SQL of the notifications domain: the inbox and the email delivery state."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from flightdeck.notifications.models import (
    EMAIL_PENDING,
    EMAIL_SENDING,
    EMAIL_SENT,
    Notification,
)


class NotificationRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add_all(self, notifications: Sequence[Notification]) -> None:
        self.session.add_all(notifications)
        await self.session.flush()

    async def list_for_user(
        self,
        user_id: str,
        *,
        limit: int,
        unread_only: bool = False,
        after: tuple[datetime, str] | None = None,
    ) -> list[Notification]:
        """The user's notifications, newest first (created_at, then id, descending), strictly
        after the keyset `after`; at most `limit`."""
        query = select(Notification).where(Notification.user_id == user_id)
        if unread_only:
            query = query.where(Notification.read_at.is_(None))
        if after is not None:
            created_at, notification_id = after
            query = query.where(
                or_(
                    Notification.created_at < created_at,
                    and_(Notification.created_at == created_at, Notification.id < notification_id),
                )
            )
        query = query.order_by(Notification.created_at.desc(), Notification.id.desc())
        return list(await self.session.scalars(query.limit(limit)))

    async def get_for_user(self, user_id: str, notification_id: str) -> Notification | None:
        return await self.session.scalar(
            select(Notification).where(
                Notification.id == notification_id, Notification.user_id == user_id
            )
        )

    async def mark_read(self, notification: Notification, at: datetime) -> None:
        """Sets read_at once (a second read keeps the first instant)."""
        if notification.read_at is None:
            notification.read_at = at
            await self.session.flush()

    async def mark_all_read(self, user_id: str, at: datetime) -> int:
        result = await self.session.execute(
            update(Notification)
            .where(Notification.user_id == user_id, Notification.read_at.is_(None))
            .values(read_at=at)
            .execution_options(synchronize_session=False)
        )
        return int(cast(CursorResult[Any], result).rowcount)

    async def claim_for_email(
        self, batch_id: str, *, now: datetime, stale_before: datetime
    ) -> list[Notification]:
        """Claims the batch's notifications waiting for email (pending, or claimed by a sender
        before `stale_before` that never finished): a conditional update, so of concurrent
        senders each row goes to one. Returns the claimed rows."""
        claimable = or_(
            Notification.email_state == EMAIL_PENDING,
            and_(
                Notification.email_state == EMAIL_SENDING,
                Notification.email_claimed_at < stale_before,
            ),
        )
        result = await self.session.execute(
            update(Notification)
            .where(Notification.batch_id == batch_id, claimable)
            .values(email_state=EMAIL_SENDING, email_claimed_at=now)
            .returning(Notification.id)
            .execution_options(synchronize_session=False)
        )
        ids = list(result.scalars())
        if not ids:
            return []
        rows = await self.session.scalars(
            select(Notification)
            .where(Notification.id.in_(ids))
            .execution_options(populate_existing=True)
        )
        return list(rows)

    async def finish_email(
        self, notification_id: str, *, state: str, attempts: int, at: datetime
    ) -> None:
        """Records the outcome of a claimed notification's email (sent, failed, not wanted)."""
        await self.session.execute(
            update(Notification)
            .where(Notification.id == notification_id)
            .values(
                email_state=state,
                email_attempts=Notification.email_attempts + attempts,
                emailed_at=at if state == EMAIL_SENT else None,
            )
            .execution_options(synchronize_session=False)
        )
