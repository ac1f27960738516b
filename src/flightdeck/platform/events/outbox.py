"""The transactional outbox: an event is a row written in the same transaction as the change.

This module is also the outbox's repository: the relay (relay.py) claims, marks and counts rows
through the functions below. Rows are relayed in insertion order: `seq` (an identity column) on
PostgreSQL, the rowid on SQLite (which cannot add an autoincrementing column).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, cast

from sqlalchemy import (
    JSON,
    BigInteger,
    ColumnElement,
    FetchedValue,
    Index,
    Integer,
    Result,
    String,
    Table,
    any_,
    bindparam,
    func,
    insert,
    literal_column,
    select,
    update,
)
from sqlalchemy.dialects import postgresql
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


class PendingRow(Protocol):
    """A pending row as the relay reads it: an `OutboxEvent` (SQLite) or a claimed row
    (`claim_pending`, PostgreSQL)."""

    @property
    def id(self) -> str: ...
    @property
    def event_type(self) -> str: ...
    @property
    def aggregate_type(self) -> str: ...
    @property
    def aggregate_id(self) -> str: ...
    @property
    def payload(self) -> dict[str, Any]: ...
    @property
    def actor_id(self) -> str | None: ...
    @property
    def created_at(self) -> datetime: ...
    @property
    def attempts(self) -> int: ...


class ClaimedRow(PendingRow, Protocol):
    """A row `claim_pending` claimed, with its aggregate's oldest pending `seq` outside the
    batch (None: there is none)."""

    @property
    def seq(self) -> int: ...
    @property
    def first_elsewhere(self) -> int | None: ...


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
    """`execute_with_events` for a compiled statement (platform/compiled_reads): its rows,
    each also read by column name."""
    await _flush_added(session)
    rows = await statement.named_rows(await session.connection(), parameters)
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
# values bound at execution. Building them per round was ~40 % of the relay's CPU. SQLite's
# relay reads these (PostgreSQL's claims its rows, `claim_pending` below): the rowid is the
# insertion order there.
_PENDING_SQLITE = (
    select(OutboxEvent)
    .where(*_is_pending())
    .order_by(literal_column("outbox_events.rowid"))
    .limit(bindparam("limit", type_=Integer))
)
_MARK_PUBLISHED = (
    update(OUTBOX_TABLE)
    .where(
        OUTBOX_TABLE.c.id.in_(bindparam("ids", expanding=True)),
        OUTBOX_TABLE.c.published_at.is_(None),
    )
    .values(published_at=bindparam("published", type_=UTCDateTime()))
)


async def list_pending(session: AsyncSession, limit: int) -> list[PendingRow]:
    """The oldest unpublished rows, in insertion order, not locked: for the one relay of a
    SQLite database (PostgreSQL's relays claim theirs, `claim_pending`)."""
    return list((await session.scalars(_PENDING_SQLITE, {"limit": limit})).all())


# PostgreSQL: the batch claimed (`FOR UPDATE SKIP LOCKED`) and, for each claimed row, the
# `seq` of its aggregate's oldest pending row outside the batch (one another relay holds, or
# one in a gap SKIP LOCKED left): one statement, on the driver (platform/compiled_reads), the
# rows read as tuples. Claiming ORM objects, then asking for those `seq`s in a second
# statement with an IN list per round, cost ~130 µs of CPU per event relayed in batches of 25
# (a tenth of a hold's, docs/ARCHITECTURE.md "The cost of a request").
_CLAIMED = (
    select(
        *(
            OUTBOX_TABLE.c[name]
            for name in (
                "id",
                "event_type",
                "aggregate_type",
                "aggregate_id",
                "payload",
                "actor_id",
                "created_at",
                "attempts",
                "seq",
            )
        )
    )
    .where(OUTBOX_TABLE.c.published_at.is_(None), OUTBOX_TABLE.c.failed_at.is_(None))
    .order_by(OUTBOX_TABLE.c.seq)
    .limit(bindparam("limit", type_=Integer))
    .with_for_update(skip_locked=True)
    .cte("claimed")
)
_ELSEWHERE = OUTBOX_TABLE.alias("elsewhere")
_CLAIM_PENDING_POSTGRESQL = CompiledWrite(
    select(
        _CLAIMED,
        select(func.min(_ELSEWHERE.c.seq))
        .where(
            _ELSEWHERE.c.aggregate_id == _CLAIMED.c.aggregate_id,
            _ELSEWHERE.c.published_at.is_(None),
            _ELSEWHERE.c.failed_at.is_(None),
            _ELSEWHERE.c.id.not_in(select(_CLAIMED.c.id)),
        )
        .scalar_subquery()
        .label("first_elsewhere"),
    ).order_by(_CLAIMED.c.seq)
)
_MARK_PUBLISHED_POSTGRESQL = CompiledWrite(
    update(OUTBOX_TABLE)
    .where(
        OUTBOX_TABLE.c.id == any_(bindparam("ids", type_=postgresql.ARRAY(String))),
        OUTBOX_TABLE.c.published_at.is_(None),
    )
    .values(published_at=bindparam("published", type_=UTCDateTime()))
)


async def claim_pending(session: AsyncSession, limit: int) -> list[ClaimedRow]:
    """PostgreSQL: the oldest unpublished rows in insertion order, locked FOR UPDATE (rows
    another transaction holds are skipped), each with its columns by name and
    `first_elsewhere`: the `seq` of its aggregate's oldest pending row not in this batch (None
    when there is none). In the caller's transaction."""
    rows = await _CLAIM_PENDING_POSTGRESQL.named_rows(await session.connection(), {"limit": limit})
    return cast(list[ClaimedRow], rows)


async def pending_stats(session: AsyncSession) -> tuple[int, datetime | None]:
    """How many rows wait to be published, and when the oldest was written."""
    stmt = select(func.count(), func.min(OutboxEvent.created_at)).where(*_is_pending())
    count, oldest = (await session.execute(stmt)).one()
    if isinstance(oldest, str):  # SQLite returns the aggregate untyped
        oldest = datetime.fromisoformat(oldest)
    return int(count), UTCDateTime().process_result_value(oldest, session.get_bind().dialect)


async def mark_published(session: AsyncSession, ids: Sequence[str], at: datetime) -> None:
    if not ids:
        return
    if session.get_bind().dialect.name == "postgresql":
        # One array parameter (on the driver), not an IN list of as many as the batch.
        values = {"ids": list(ids), "published": at}
        await _MARK_PUBLISHED_POSTGRESQL.rows(await session.connection(), values)
    else:
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
