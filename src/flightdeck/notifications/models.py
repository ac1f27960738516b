"""The notification inbox: one row per (user, notification), with its email delivery state.

No foreign key to `users`: the notifications service can run on its own, and a user's inbox
is removed with the user by the users domain's event, not by the schema.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from flightdeck.platform.db import Base, IdMixin, UTCDateTime

# Email delivery states of a notification.
EMAIL_NOT_WANTED = "not_wanted"  # the user's preferences say no, or email is not configured
EMAIL_PENDING = "pending"
EMAIL_SENDING = "sending"  # claimed by one sender (until `email_claimed_at` + lease)
EMAIL_SENT = "sent"
EMAIL_FAILED = "failed"  # retries used up; logged


class Notification(IdMixin, Base):
    __tablename__ = "notifications"
    __table_args__ = (
        # GET /notifications: a user's inbox, newest first (keyset on created_at, id).
        Index("ix_notifications_user_created", "user_id", "created_at", "id"),
        # The email sender finds the notifications of one event.
        Index("ix_notifications_batch", "batch_id"),
    )

    # In the primary key: a user's inbox is distributed by user (flightdeck/data_layout.py).
    user_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    kind: Mapped[str] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(String(200))
    message: Mapped[str] = mapped_column(Text)
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # The notifications created together (one event, one POST): they share a batch id.
    batch_id: Mapped[str] = mapped_column(String(36))
    # The event that caused it (None: sent by staff through POST /notifications).
    source_event_id: Mapped[str | None] = mapped_column(String(64), default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    email_state: Mapped[str] = mapped_column(String(16), default=EMAIL_NOT_WANTED)
    email_attempts: Mapped[int] = mapped_column(Integer, default=0)
    email_claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    emailed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
