"""The audit log: who changed what, when, from where, with the before/after of the fields.

Like the outbox, the table and its writer live in the platform so that every domain can record
its changes (flights, schedules, status, bookings, notifications, users) without depending on
the admin domain, which only reads it. `record_audit` adds the row to the caller's session: it
is committed with the change it describes, or not at all. The actor and the client address
come from the request context (`platform.request_context`). Personal data in before/after is
masked before it is stored. Nothing updates or deletes a row: the log is append-only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Index, Select, String, and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from flightdeck.platform.clock import utcnow
from flightdeck.platform.db import Base, IdMixin, UTCDateTime
from flightdeck.platform.request_context import current_context

# Keys whose values are personal data, wherever they appear in before/after.
PERSONAL_FIELDS = frozenset(
    {
        "email",
        "phone",
        "full_name",
        "first_name",
        "last_name",
        "date_of_birth",
        "passport_number",
        "payer_email",
        "holder",
    }
)
SECRET_FIELDS = frozenset({"password", "password_hash", "current_password", "token"})
MASK = "***"


class AuditEntry(IdMixin, Base):
    """One change made to something the airline runs. Never updated, never deleted."""

    __tablename__ = "audit_log"
    __table_args__ = (
        Index("ix_audit_log_occurred", "occurred_at", "id"),
        Index("ix_audit_log_actor", "actor_id", "occurred_at"),
        Index("ix_audit_log_entity", "entity", "entity_id", "occurred_at"),
        Index("ix_audit_log_action", "action", "occurred_at"),
    )

    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime())
    actor_id: Mapped[str | None] = mapped_column(String(36), default=None)
    actor_role: Mapped[str | None] = mapped_column(String(16), default=None)
    client_ip: Mapped[str | None] = mapped_column(String(45), default=None)
    # "api" for a signed-in user's request; "feed:<name>", "cli", … for other sources.
    source: Mapped[str] = mapped_column(String(40), default="api")
    action: Mapped[str] = mapped_column(String(32))
    entity: Mapped[str] = mapped_column(String(32))
    entity_id: Mapped[str] = mapped_column(String(64))
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)


# --- writing ----------------------------------------------------------------------------


def mask_email(email: str) -> str:
    """`grace.hopper@navy.mil` → `g***@navy.mil`: enough to tell accounts apart."""
    local, _, domain = email.partition("@")
    return f"{local[:1]}{MASK}@{domain}" if domain else MASK


def _masked_value(key: str, value: Any) -> Any:
    if value is None:
        return None
    if key in SECRET_FIELDS:
        return MASK
    if "email" in key and isinstance(value, str):
        return mask_email(value)
    if key == "passport_number" and isinstance(value, str):
        return f"{MASK}{value[-2:]}" if len(value) > 4 else MASK
    return MASK


def mask_personal_data(value: Any, key: str = "") -> Any:
    """A JSON-ready copy of `value` with personal data and secrets masked, at any depth."""
    if key in PERSONAL_FIELDS or key in SECRET_FIELDS:
        return _masked_value(key, value)
    if isinstance(value, Mapping):
        return {str(k): mask_personal_data(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [mask_personal_data(item, key) for item in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def changed_fields(
    before: Mapping[str, Any], after: Mapping[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The fields whose values differ, as (before, after) dicts of just those fields."""
    keys = [k for k in dict.fromkeys([*before, *after]) if before.get(k) != after.get(k)]
    return {k: before.get(k) for k in keys}, {k: after.get(k) for k in keys}


async def record_audit(
    session: AsyncSession,
    *,
    action: str,
    entity: str,
    entity_id: str,
    before: Mapping[str, Any] | None = None,
    after: Mapping[str, Any] | None = None,
    source: str | None = None,
) -> AuditEntry:
    """Adds an audit row to the caller's transaction (committed with the change or not at
    all). Actor, role and client address come from the request context; personal data in
    `before`/`after` is masked. `source` defaults to "api" inside a request, else "system"."""
    context = current_context()
    entry = AuditEntry(
        occurred_at=utcnow(),
        actor_id=context.actor_id if context else None,
        actor_role=context.actor_role if context else None,
        client_ip=context.client_ip if context else None,
        source=source or ("api" if context and context.actor_id else "system"),
        action=action,
        entity=entity,
        entity_id=entity_id,
        before=None if before is None else mask_personal_data(before),
        after=None if after is None else mask_personal_data(after),
    )
    session.add(entry)
    await session.flush()
    return entry


# --- reading (the admin domain's listing) -------------------------------------------------


@dataclass(frozen=True)
class AuditQuery:
    actor_id: str | None = None
    entity: str | None = None
    entity_id: str | None = None
    action: str | None = None
    occurred_from: datetime | None = None  # inclusive
    occurred_before: datetime | None = None  # exclusive


def audit_statement(
    query: AuditQuery, *, limit: int, after: tuple[datetime, str] | None = None
) -> Select[AuditEntry]:
    """Newest first on (occurred_at, id), strictly after the keyset `after`."""
    statement = select(AuditEntry)
    for column, value in (
        (AuditEntry.actor_id, query.actor_id),
        (AuditEntry.entity, query.entity),
        (AuditEntry.entity_id, query.entity_id),
        (AuditEntry.action, query.action),
    ):
        if value is not None:
            statement = statement.where(column == value)
    if query.occurred_from is not None:
        statement = statement.where(AuditEntry.occurred_at >= query.occurred_from)
    if query.occurred_before is not None:
        statement = statement.where(AuditEntry.occurred_at < query.occurred_before)
    if after is not None:
        at, entry_id = after
        statement = statement.where(
            AuditEntry.occurred_at <= at,
            or_(
                AuditEntry.occurred_at < at,
                and_(AuditEntry.occurred_at == at, AuditEntry.id < entry_id),
            ),
        )
    order = (AuditEntry.occurred_at.desc(), AuditEntry.id.desc())
    return statement.order_by(*order).limit(limit)


async def list_audit_entries(
    session: AsyncSession,
    query: AuditQuery,
    *,
    limit: int,
    after: tuple[datetime, str] | None = None,
) -> Sequence[AuditEntry]:
    """Up to `limit` entries matching `query`, newest first, after the keyset `after`."""
    result = await session.scalars(audit_statement(query, limit=limit, after=after))
    return result.all()
