"""The transactional outbox: an event is a row written in the same transaction as the change.

This module is also the outbox's repository: the relay (relay.py) claims, marks and counts rows
through the functions below. Rows are relayed in insertion order: `seq` (an identity column) on
PostgreSQL, the rowid on SQLite (which cannot add an autoincrementing column).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    ColumnElement,
    FetchedValue,
    Index,
    Integer,
    Result,
    Row,
    Select,
    String,
    Table,
    bindparam,
    func,
    insert,
    literal_column,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.sql.base import Executable

from flightdeck.platform.clock import utcnow
from flightdeck.platform.db import Base, IdMixin, UTCDateTime, new_id
from flightdeck.platform.wakeup import CommitSignal

ERROR_LENGTH = 500


class OutboxEvent(IdMixin, Base):
    __tablename__ = "outbox_events"
    __table_args__ = (
        Index("ix_outbox_events_unpublished", "published_at", "created_at"),
        Index("ix_outbox_events_pending_seq", "published_at", "seq"),
    )

    event_type: Mapped[str] = mapped_column(String(64))
    aggregate_type: Mapped[str] = mapped_column(String(32))
    aggregate_id: Mapped[str] = mapped_column(String(64), index=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    actor_id: Mapped[str | None] = mapped_column(String(36), default=None)
    # In the primary key: the partition key on PostgreSQL (monthly, flightdeck/data_layout.py).
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, primary_key=True)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # Insertion order, filled by the database: a sequence default on PostgreSQL; NULL on
    # SQLite, where the rowid gives the order.
    seq: Mapped[int | None] = mapped_column(BigInteger, server_default=FetchedValue())
    last_error: Mapped[str | None] = mapped_column(String(ERROR_LENGTH), default=None)
    # Set when a row failed `max_attempts` times for a reason of its own (not the broker).
    failed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)


@dataclass(frozen=True)
class RecordedEvent:
    """An event `record_event` wrote (its row's columns at insertion)."""

    id: str
    event_type: str
    aggregate_type: str
    aggregate_id: str
    payload: dict[str, Any]
    actor_id: str | None
    created_at: datetime


# Built once; the row goes in as a Core INSERT: an ORM object and a flush of the unit of work
# cost more CPU than the rest of a booking's writes. `seq` is left to its database default.
OUTBOX_TABLE: Table = OutboxEvent.__table__  # type: ignore[assignment]
_INSERT_EVENT = insert(OUTBOX_TABLE)


def new_event(
    event_type: str,
    *,
    aggregate_type: str,
    aggregate_id: str,
    payload: dict[str, Any],
    actor_id: str | None = None,
) -> RecordedEvent:
    """An event not written yet: `write_event` writes it, or a repository folds its row
    (`event_row`) into a statement of its own (see `execute_with_events`)."""
    return RecordedEvent(
        id=new_id(),
        event_type=event_type,
        aggregate_type=aggregate_type,
        aggregate_id=aggregate_id,
        payload=payload,
        actor_id=actor_id,
        created_at=utcnow(),
    )


def event_row(event: RecordedEvent) -> dict[str, Any]:
    """The column values of the event's outbox row (`seq` is the database's)."""
    return {
        "id": event.id,
        "event_type": event.event_type,
        "aggregate_type": event.aggregate_type,
        "aggregate_id": event.aggregate_id,
        "payload": event.payload,
        "actor_id": event.actor_id,
        "created_at": event.created_at,
        "published_at": None,
        "attempts": 0,
        "last_error": None,
        "failed_at": None,
    }


async def execute_with_events(
    session: AsyncSession, statement: Executable, parameters: dict[str, Any]
) -> Result[Any]:
    """Runs a statement that also inserts outbox rows (built from `event_row`) in the
    caller's transaction, as `write_event` would: objects the caller added to the session are
    flushed first, and the relay is woken once the transaction commits."""
    if session.new or session.dirty or session.deleted:
        await session.flush()
    result = await session.execute(statement, parameters)
    EVENTS_COMMITTED.mark(session)
    return result


async def write_event(session: AsyncSession, event: RecordedEvent) -> None:
    """Adds the event's row to the caller's transaction; it is published only if that
    commits."""
    await execute_with_events(session, _INSERT_EVENT, event_row(event))


async def record_event(
    session: AsyncSession,
    event_type: str,
    *,
    aggregate_type: str,
    aggregate_id: str,
    payload: dict[str, Any],
    actor_id: str | None = None,
) -> RecordedEvent:
    """Adds the event to the caller's transaction; it is published only if that commits.
    Objects the caller added to the session are flushed first, as a flush always did here."""
    event = new_event(
        event_type,
        aggregate_type=aggregate_type,
        aggregate_id=aggregate_id,
        payload=payload,
        actor_id=actor_id,
    )
    await write_event(session, event)
    return event


# --- waking the relay after a commit that wrote events -----------------------------------

# Fires after each commit of a session that recorded an event (it wakes the relay).
EVENTS_COMMITTED = CommitSignal("outbox")


# --- queries used by the relay ---------------------------------------------------------


_COLUMNS = OUTBOX_TABLE.c
# What the relay reads of a row: the event, its attempts and its place in the order.
_RELAYED = [
    _COLUMNS[name]
    for name in (
        "id", "event_type", "aggregate_type", "aggregate_id", "payload", "actor_id",
        "created_at", "attempts", "seq",
    )
]  # fmt: skip


def _is_pending(table: Any = OUTBOX_TABLE) -> tuple[ColumnElement[bool], ...]:
    return (table.c.published_at.is_(None), table.c.failed_at.is_(None))


@cache
def _pending_statement(dialect_name: str, lock: bool) -> Select[Any]:
    """The oldest pending rows, in insertion order (`limit` bound). With `lock`, each locked
    FOR UPDATE, rows another transaction holds skipped, and each with `first_pending_seq`: the
    `seq` of its aggregate's oldest pending row, locked or not."""
    order = literal_column("outbox_events.rowid") if dialect_name == "sqlite" else _COLUMNS.seq
    statement = select(*_RELAYED).where(*_is_pending()).order_by(order)
    statement = statement.limit(bindparam("limit", type_=Integer))
    if not lock:
        return statement
    older = OUTBOX_TABLE.alias("older")
    first_pending = (
        select(func.min(older.c.seq))
        .where(older.c.aggregate_id == _COLUMNS.aggregate_id, *_is_pending(older))
        .scalar_subquery()
    )
    return statement.add_columns(first_pending.label("first_pending_seq")).with_for_update(
        skip_locked=True, of=OUTBOX_TABLE
    )


async def list_pending(session: AsyncSession, limit: int, *, lock: bool) -> list[Row[Any]]:
    """The oldest unpublished rows (columns, no ORM objects), in insertion order, in one
    statement. With `lock` (PostgreSQL) the rows are locked FOR UPDATE, rows another
    transaction holds are skipped, and each row has `first_pending_seq` (see
    `_pending_statement`): a relay leaves out an aggregate whose older row another holds."""
    statement = _pending_statement(session.get_bind().dialect.name, lock)
    return list((await session.execute(statement, {"limit": limit})).all())


async def pending_stats(session: AsyncSession) -> tuple[int, datetime | None]:
    """How many rows wait to be published, and when the oldest was written."""
    stmt = select(func.count(), func.min(OutboxEvent.created_at)).where(*_is_pending())
    count, oldest = (await session.execute(stmt)).one()
    if isinstance(oldest, str):  # SQLite returns the aggregate untyped
        oldest = datetime.fromisoformat(oldest)
    return int(count), UTCDateTime().process_result_value(oldest, session.get_bind().dialect)


# The rows just published, marked (only while still unpublished).
_MARK_PUBLISHED = (
    update(OUTBOX_TABLE)
    .where(_COLUMNS.id.in_(bindparam("ids", expanding=True)), _COLUMNS.published_at.is_(None))
    .values(published_at=bindparam("at", type_=UTCDateTime()))
)


async def mark_published(session: AsyncSession, ids: Sequence[str], at: datetime) -> None:
    if ids:
        await session.execute(_MARK_PUBLISHED, {"ids": list(ids), "at": at})


async def record_attempt(
    session: AsyncSession, ids: Sequence[str], error: str, *, failed_at: datetime | None = None
) -> None:
    """Counts a failed publish attempt; with `failed_at` the rows are given up on."""
    if not ids:
        return
    values: dict[str, Any] = {
        "attempts": _COLUMNS.attempts + 1,
        "last_error": error[:ERROR_LENGTH],
    }
    if failed_at is not None:
        values["failed_at"] = failed_at
    statement = (
        update(OUTBOX_TABLE)
        .where(_COLUMNS.id.in_(ids), _COLUMNS.published_at.is_(None))
        .values(**values)
    )
    await session.execute(statement)
