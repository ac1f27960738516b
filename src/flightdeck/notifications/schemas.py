"""Notifications at the edge: the staff broadcast request, inbox items, WebSocket messages."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from flightdeck.notifications.models import Notification
from flightdeck.platform.text import RESOURCE_ID_PATTERN, MultiLineText, SingleLineText


class NotificationCreate(BaseModel):
    """`POST /notifications`: exactly one of `user_id` (one user) and `flight_id` (every
    passenger booked on the flight)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    user_id: str | None = Field(default=None, pattern=RESOURCE_ID_PATTERN)
    flight_id: str | None = Field(default=None, pattern=RESOURCE_ID_PATTERN)
    title: SingleLineText = Field(min_length=1, max_length=200)
    message: MultiLineText = Field(min_length=1, max_length=2000)

    @model_validator(mode="after")
    def _one_audience(self) -> NotificationCreate:
        if (self.user_id is None) == (self.flight_id is None):
            raise ValueError("give exactly one of user_id and flight_id")
        return self


class NotificationSent(BaseModel):
    recipients: int


class NotificationRead(BaseModel):
    id: str
    title: str
    message: str
    kind: str
    data: dict[str, Any]
    created_at: datetime
    read_at: datetime | None


class ReadAllResult(BaseModel):
    updated: int


def notification_to_read(notification: Notification) -> NotificationRead:
    return NotificationRead(
        id=notification.id,
        title=notification.title,
        message=notification.message,
        kind=notification.kind,
        data=dict(notification.data or {}),
        created_at=notification.created_at,
        read_at=notification.read_at,
    )
