"""Helpers for notification tests: reading inboxes, waiting for asynchronous delivery."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from email.message import EmailMessage
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from flightdeck.notifications.models import Notification

# Delivery runs through the outbox relay and the bus: it is quick, but not synchronous.
DELIVERY_TIMEOUT = 5.0


async def inbox(
    client: httpx.AsyncClient, headers: dict[str, str], **params: Any
) -> list[dict[str, Any]]:
    response = await client.get("/notifications", headers=headers, params=params)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def eventually(
    check: Callable[[], Awaitable[bool]],
    timeout: float = DELIVERY_TIMEOUT,  # noqa: ASYNC109 - a plain timeout reads better here
    what: str = "",
) -> None:
    """Waits until `check()` is true; fails the test after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout}s: {what}")
        await asyncio.sleep(0.05)


async def wait_for_inbox(
    client: httpx.AsyncClient, headers: dict[str, str], count: int = 1
) -> list[dict[str, Any]]:
    """The inbox once it holds at least `count` notifications."""
    items: list[dict[str, Any]] = []

    async def arrived() -> bool:
        nonlocal items
        items = await inbox(client, headers)
        return len(items) >= count

    await eventually(arrived, what=f"{count} notification(s) in the inbox")
    return items


async def stored_notifications(db: AsyncSession, user_id: str) -> list[Notification]:
    """The user's stored notifications, oldest first (the transaction ends after)."""
    try:
        db.expire_all()
        rows = await db.scalars(
            select(Notification)
            .where(Notification.user_id == user_id)
            .order_by(Notification.created_at)
        )
        result = list(rows)
        db.expunge_all()
        return result
    finally:
        await db.rollback()


def to(address: str) -> Callable[[EmailMessage], bool]:
    """Matches a captured message addressed to `address`."""
    return lambda message: address.lower() in str(message["To"]).lower()


def body_text(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())


async def email_off(client: httpx.AsyncClient, headers: dict[str, str]) -> None:
    response = await client.patch(
        "/profile", json={"notification_preferences": {"email": False}}, headers=headers
    )
    assert response.status_code == 200, response.text
