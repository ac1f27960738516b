"""HTTP routes of notifications: the inbox and staff messages (the live feed is in ws.py)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, status

from flightdeck.notifications import service
from flightdeck.notifications.email import Mailer
from flightdeck.notifications.errors import NotificationNotFound, RecipientNotFound
from flightdeck.notifications.schemas import (
    NotificationCreate,
    NotificationRead,
    NotificationSent,
    ReadAllResult,
)
from flightdeck.platform.db import DbSession
from flightdeck.platform.errors import Forbidden, Unauthorized, error_responses
from flightdeck.platform.pagination import Page, PageParams, page_params
from flightdeck.platform.security.auth import CurrentPrincipal, StaffPrincipal
from flightdeck.platform.text import ResourceId

router = APIRouter(tags=["notifications"])


async def app_mailer(request: Request) -> Mailer:
    mailer: Mailer = request.app.state.mailer
    return mailer


AppMailer = Annotated[Mailer, Depends(app_mailer)]
NotificationId = ResourceId


@router.post(
    "/notifications",
    status_code=status.HTTP_202_ACCEPTED,
    responses=error_responses(Unauthorized, Forbidden, RecipientNotFound, 422),
)
async def send_notification(
    data: NotificationCreate, session: DbSession, principal: StaffPrincipal, mailer: AppMailer
) -> NotificationSent:
    """Notify one user, or every passenger booked on a flight (inbox, live feed, email)."""
    return await service.send_notification(session, principal, data, email_enabled=mailer.enabled)


@router.get("/notifications", responses=error_responses(Unauthorized, 422))
async def list_notifications(
    session: DbSession,
    principal: CurrentPrincipal,
    params: Annotated[PageParams, Depends(page_params)],
    unread: Annotated[bool, Query(description="Only notifications not read yet")] = False,
) -> Page[NotificationRead]:
    """The caller's notifications, newest first."""
    return await service.list_inbox(session, principal, params, unread_only=unread)


@router.post("/notifications/read-all", responses=error_responses(Unauthorized))
async def mark_all_notifications_read(
    session: DbSession, principal: CurrentPrincipal
) -> ReadAllResult:
    """Mark every notification of the caller read."""
    return await service.mark_all_read(session, principal)


@router.post(
    "/notifications/{notification_id}/read",
    responses=error_responses(Unauthorized, NotificationNotFound),
)
async def mark_notification_read(
    notification_id: NotificationId, session: DbSession, principal: CurrentPrincipal
) -> NotificationRead:
    """Mark one of the caller's notifications read."""
    return await service.mark_read(session, principal, notification_id)
