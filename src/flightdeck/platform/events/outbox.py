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
from flightdeck.platform.compiled_reads import CompiledBatch, CompiledWrite
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
    await _flush_added(session)
    result = await session.execute(statement, parameters)
    EVENTS_COMMITTED.mark(session)
    return result


async def write_with_events(
    session: AsyncSession, statement: CompiledWrite, parameters: dict[str, Any]
) -> list[Sequence[Any]]:
    """`execute_with_events` for a compiled statement (platform/compiled_reads): its rows."""
    await _flush_added(session)
    rows = await statement.rows(await session.connection(), parameters)
    EVENTS_COMMITTED.mark(session)
    return rows


async def write_batch_with_events(
    session: AsyncSession,
    batch: CompiledBatch,
    values: Sequence[Any],
) -> list[int]:
    """`execute_with_events` for writes in one batch (platform/compiled_reads): rowcounts."""
    await _flush_added(session)
    counts = await batch.rowcounts(await session.connection(), values)
    EVENTS_COMMITTED.mark(session)
    return counts


async def _flush_added(session: AsyncSession) -> None:
    """Writes what the caller added to the session before a statement that writes events."""
    if session.new or session.dirty or session.deleted:
        await session.flush()


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


def _is_pending() -> tuple[ColumnElement[bool], ...]:
    return (OutboxEvent.published_at.is_(None), OutboxEvent.failed_at.is_(None))


# The relay's statements run every round (a round per few commits under load): built once,
# values bound at execution. Building them per round was ~40 % of the relay's CPU.
@cache
def _pending_statement(dialect: str, lock: bool) -> Select[OutboxEvent]:
    order = literal_column("outbox_events.rowid") if dialect == "sqlite" else OutboxEvent.seq
    stmt = (
        select(OutboxEvent)
        .where(*_is_pending())
        .order_by(order)
        .limit(bindparam("limit", type_=Integer))
    )
    return stmt.with_for_update(skip_locked=True) if lock else stmt


_FIRST_PENDING_ELSEWHERE = (
    select(OutboxEvent.aggregate_id, func.min(OutboxEvent.seq))
    .where(
        *_is_pending(),
        OutboxEvent.aggregate_id.in_(bindparam("aggregates", expanding=True)),
        OutboxEvent.id.not_in(bindparam("claimed", expanding=True)),
    )
    .group_by(OutboxEvent.aggregate_id)
)
_MARK_PUBLISHED = (
    update(OUTBOX_TABLE)
    .where(
        OUTBOX_TABLE.c.id.in_(bindparam("ids", expanding=True)),
        OUTBOX_TABLE.c.published_at.is_(None),
    )
    .values(published_at=bindparam("published", type_=UTCDateTime()))
)


async def list_pending(session: AsyncSession, limit: int, *, lock: bool) -> list[OutboxEvent]:
    """The oldest unpublished rows, in insertion order. With `lock` (PostgreSQL) the rows are
    locked FOR UPDATE and rows another transaction holds are skipped."""
    stmt = _pending_statement(session.get_bind().dialect.name, lock)
    return list((await session.scalars(stmt, {"limit": limit})).all())


async def first_pending_seq_elsewhere(
    session: AsyncSession, aggregate_ids: Sequence[str], claimed_ids: Sequence[str]
) -> dict[str, int]:
    """For each aggregate, the `seq` of its oldest unpublished row that is not one of
    `claimed_ids` (locked by another relay or not); aggregates without one are left out."""
    values = {"aggregates": list(aggregate_ids), "claimed": list(claimed_ids)}
    rows = (await session.execute(_FIRST_PENDING_ELSEWHERE, values)).all()
    return {aggregate_id: seq for aggregate_id, seq in rows if seq is not None}


async def pending_stats(session: AsyncSession) -> tuple[int, datetime | None]:
    """How many rows wait to be published, and when the oldest was written."""
    stmt = select(func.count(), func.min(OutboxEvent.created_at)).where(*_is_pending())
    count, oldest = (await session.execute(stmt)).one()
    if isinstance(oldest, str):  # SQLite returns the aggregate untyped
        oldest = datetime.fromisoformat(oldest)
    return int(count), UTCDateTime().process_result_value(oldest, session.get_bind().dialect)


async def mark_published(session: AsyncSession, ids: Sequence[str], at: datetime) -> None:
    if ids:
        await session.execute(_MARK_PUBLISHED, {"ids": list(ids), "published": at})


async def record_attempt(
    session: AsyncSession, ids: Sequence[str], error: str, *, failed_at: datetime | None = None
) -> None:
    """Counts a failed publish attempt; with `failed_at` the rows are given up on."""
    values: dict[str, Any] = {
        "attempts": OutboxEvent.attempts + 1,
        "last_error": error[:ERROR_LENGTH],
    }
    if failed_at is not None:
        values["failed_at"] = failed_at
    await _update(session, ids, **values)


async def _update(session: AsyncSession, ids: Sequence[str], **values: Any) -> None:
    if not ids:
        return
    stmt = (
        update(OutboxEvent)
        .where(OutboxEvent.id.in_(ids), OutboxEvent.published_at.is_(None))
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    await session.execute(stmt)
