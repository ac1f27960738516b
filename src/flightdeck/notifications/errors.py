"""Errors of the notifications domain."""

from __future__ import annotations

from flightdeck.platform.errors import NotFound


class NotificationNotFound(NotFound):
    code = "notification_not_found"
    message = "Notification not found"


class RecipientNotFound(NotFound):
    code = "user_not_found"
    message = "User not found"
