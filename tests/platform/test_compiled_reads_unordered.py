"""An unordered compiled read (platform/compiled_reads.py, `unordered=True`) comes back from
SQLite's thread as one row, a JSON array of its rows, and returns the rows SQLAlchemy's own
execution returns: text of any kind, a UTC time, JSON, integers and NULLs read as before.
No rows is an empty list; a column JSON cannot carry exactly is refused on SQLite; a brief
read and PostgreSQL keep the statement as written."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import Float, LargeBinary, bindparam, cast, func, literal, select, union_all
from sqlalchemy.ext.asyncio import AsyncSession
from tests.platform.test_sqlite_driver import counted
from tests.statements import statements_sent

from flightdeck.platform.clock import utcnow
from flightdeck.platform.compiled_reads import CompiledRead
from flightdeck.platform.db import UTCDateTime, new_id, read_connection
from flightdeck.platform.events.outbox import OUTBOX_TABLE, record_event

pytestmark = pytest.mark.asyncio(loop_scope="session")

_OUTBOX = OUTBOX_TABLE.c
# Two kinds of row together (UNION ALL, in no order): typed columns (JSON, a UTC time, an
# integer), a value written into the statement, a NULL, and one parameter used twice.
_STATEMENT = union_all(
    select(
        literal(0).label("kind"),
        _OUTBOX.id,
        _OUTBOX.payload,
        _OUTBOX.created_at,
        _OUTBOX.attempts,
        func.coalesce(_OUTBOX.actor_id, "nobody").label("actor"),
    ).where(
        _OUTBOX.aggregate_id == bindparam("aggregate"),
        _OUTBOX.created_at >= bindparam("since", type_=UTCDateTime()),
    ),
    select(
        literal(1).label("kind"),
        _OUTBOX.id,
        _OUTBOX.payload,
        _OUTBOX.created_at,
        _OUTBOX.attempts,
        _OUTBOX.actor_id,
    ).where(_OUTBOX.aggregate_id == bindparam("aggregate"), _OUTBOX.actor_id.is_(None)),
)
_UNORDERED = CompiledRead(_STATEMENT, unordered=True)
_BRIEF = CompiledRead(_STATEMENT, unordered=True, brief=True)
# Text JSON must escape, and text it must not mangle.
_ACTORS = ['O\'Brien "the \\ first"', None, "Zoë\n\t☃ 🛫"]


async def _events(db: AsyncSession) -> dict[str, Any]:
    """Three events of a new aggregate (one with no actor), one of another: the values."""
    aggregate = new_id()
    for n, actor in enumerate(_ACTORS):
        payload = {"n": n, "note": actor, "seats": ["1A", "1B"]}
        await record_event(
            db,
            "booking.created",
            aggregate_type="booking",
            aggregate_id=aggregate,
            payload=payload,
            actor_id=actor,
        )
    await record_event(
        db, "booking.created", aggregate_type="booking", aggregate_id=new_id(), payload={}
    )
    await db.commit()
    return {"since": utcnow() - timedelta(hours=1), "aggregate": aggregate}


def _sorted(rows: Any) -> list[tuple[Any, ...]]:
    """By kind, then the event's `n`."""
    return sorted((tuple(row) for row in rows), key=lambda row: (row[0], row[2]["n"]))


async def _read(
    app: FastAPI, read: CompiledRead, values: dict[str, Any], backend: str
) -> tuple[list[tuple[Any, ...]], int | None, list[str]]:
    """`read`'s rows sorted, its trips to SQLite's thread (None on PostgreSQL) and the
    statements sent, after SQLAlchemy's own execution of it on the same connection (its
    rows first in the list)."""
    with statements_sent(app) as sent:
        async with read_connection(app.state.engine) as conn:
            expected = _sorted((await conn.execute(read.statement, values)).all())
            counter = await counted(conn) if backend == "sqlite" else None
            rows = _sorted(await read.rows(conn, values))
            trips = counter.trips if counter is not None else None
    assert rows == expected
    return rows, trips, [statement for statement, _ in sent[1:]]


async def test_an_unordered_read_is_one_row_from_sqlites_thread_with_sqlalchemys_rows(
    app: FastAPI, db: AsyncSession, backend: str
) -> None:
    rows, trips, [sql] = await _read(app, _UNORDERED, await _events(db), backend)
    assert len(rows) == 4  # three of the aggregate, and its one with no actor again
    kind, actor, payload = (_UNORDERED.position(name) for name in ("kind", "actor", "payload"))
    assert [row[actor] for row in rows if row[kind] == 0] == [_ACTORS[0], "nobody", _ACTORS[2]]
    assert [row[actor] for row in rows if row[kind] == 1] == [None]
    assert rows[2][payload] == {"n": 2, "note": _ACTORS[2], "seats": ["1A", "1B"]}
    created_at = rows[0][_UNORDERED.position("created_at")]
    assert created_at.utcoffset() == timedelta(0)
    compiled = _UNORDERED.compiled(app.state.engine.dialect)
    if backend == "sqlite":
        assert trips == 1
        assert sql == compiled.one_row_sql
        assert sql.startswith("SELECT json_group_array(json_array(")
    else:
        assert compiled.one_row_sql is None
        assert sql == compiled.sql


async def test_no_rows_is_an_empty_list(app: FastAPI) -> None:
    async with read_connection(app.state.engine) as conn:
        rows = await _UNORDERED.rows(conn, {"since": utcnow(), "aggregate": new_id()})
    assert rows == []


async def test_a_brief_unordered_read_runs_as_written_in_the_event_loops_thread(
    app: FastAPI, db: AsyncSession, backend: str
) -> None:
    rows, trips, sent = await _read(app, _BRIEF, await _events(db), backend)
    assert len(rows) == 4
    assert sent == [_BRIEF.compiled(app.state.engine.dialect).sql]
    if backend == "sqlite":
        assert trips == 0


@pytest.mark.parametrize("settings", ["sqlite"], indirect=True)
@pytest.mark.parametrize(
    ("column", "type_name"),
    [
        (cast(_OUTBOX.attempts, Float).label("share"), "FLOAT"),
        (cast(_OUTBOX.id, LargeBinary).label("raw"), "BLOB"),
    ],
)
async def test_a_column_json_cannot_carry_exactly_is_refused_on_sqlite(
    app: FastAPI, column: Any, type_name: str
) -> None:
    """JSON has no BLOB, and SQLite writes a REAL in 15 digits: such a column is refused by
    name where the one-row form is built, not read inexactly."""
    read = CompiledRead(select(_OUTBOX.id, column), unordered=True)
    async with read_connection(app.state.engine) as conn:
        with pytest.raises(ValueError, match=f"column '{column.name}' \\({type_name}"):
            await read.rows(conn, {})
