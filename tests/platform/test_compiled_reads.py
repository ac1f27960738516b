"""A read compiled once and run on the driver (platform/compiled_reads.py) returns the rows
SQLAlchemy's own execution returns, shows its statement to cursor events, turns a driver
error into SQLAlchemy's and drops that connection, and refuses an IN list. A compiled write
runs on the driver once its transaction has begun there (asyncpg), inside that
transaction; a batch of writes goes to SQLite's thread in one trip, and a claim that writes
nothing stops it."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import AsyncExitStack, contextmanager
from datetime import timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import (
    Float,
    bindparam,
    column,
    event,
    func,
    insert,
    literal,
    or_,
    select,
    table,
    text,
    update,
)
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from tests.platform.test_sqlite_driver import counted
from tests.statements import statements_sent

from flightdeck.platform.clock import utcnow
from flightdeck.platform.compiled_reads import CompiledBatch, CompiledRead, CompiledWrite
from flightdeck.platform.db import READ_ONLY, UTCDateTime, new_id, read_connection
from flightdeck.platform.events.outbox import OUTBOX_TABLE, record_event

pytestmark = pytest.mark.asyncio(loop_scope="session")

_OUTBOX = OUTBOX_TABLE.c
# Typed columns (JSON, a UTC time, an integer), a value written into the statement
# (coalesce's default) and one parameter used twice.
_EVENTS = CompiledRead(
    select(
        _OUTBOX.id,
        _OUTBOX.payload,
        _OUTBOX.created_at,
        _OUTBOX.attempts,
        func.coalesce(_OUTBOX.actor_id, "nobody").label("actor"),
    )
    .where(
        _OUTBOX.created_at >= bindparam("since", type_=UTCDateTime()),
        _OUTBOX.aggregate_id == bindparam("aggregate"),
        or_(
            _OUTBOX.event_type == bindparam("kind"),
            _OUTBOX.aggregate_type == bindparam("kind"),
        ),
    )
    .order_by(_OUTBOX.created_at, _OUTBOX.id)
)


async def _events(db: AsyncSession) -> dict[str, Any]:
    """Three events of a new aggregate (and one of another): the statement's values."""
    aggregate = new_id()
    for n, actor in enumerate(["u1", None, "u2"]):
        await record_event(
            db,
            "booking.created",
            aggregate_type="booking",
            aggregate_id=aggregate,
            payload={"n": n, "seats": ["1A", "1B"]},
            actor_id=actor,
        )
    await record_event(
        db, "booking.created", aggregate_type="booking", aggregate_id=new_id(), payload={}
    )
    await db.commit()
    return {"since": utcnow() - timedelta(hours=1), "aggregate": aggregate, "kind": "booking"}


async def test_rows_are_those_sqlalchemy_returns(app: FastAPI, db: AsyncSession) -> None:
    values = await _events(db)
    async with read_connection(app.state.engine) as conn:
        expected = [tuple(row) for row in (await conn.execute(_EVENTS.statement, values)).all()]
        rows = [tuple(row) for row in await _EVENTS.rows(conn, values)]
    assert len(expected) == 3
    assert rows == expected
    assert [row[_EVENTS.position("actor")] for row in rows] == ["u1", "nobody", "u2"]
    assert rows[0][_EVENTS.position("payload")] == {"n": 0, "seats": ["1A", "1B"]}
    created_at = rows[0][_EVENTS.position("created_at")]
    assert created_at.utcoffset() == timedelta(0)


async def test_named_rows_are_read_by_column_name(app: FastAPI, db: AsyncSession) -> None:
    values = await _events(db)
    async with read_connection(app.state.engine) as conn:
        expected = (await conn.execute(_EVENTS.statement, values)).all()
        named = await _EVENTS.named_rows(conn, values)
    assert [(row.id, row.actor, row.payload) for row in named] == [
        (row.id, row.actor, row.payload) for row in expected
    ]


async def test_cursor_events_see_the_statement(app: FastAPI, db: AsyncSession) -> None:
    values = await _events(db)
    with statements_sent(app) as sent:
        async with read_connection(app.state.engine) as conn:
            rows = await _EVENTS.rows(conn, values)
    [(statement, parameters)] = sent
    assert statement == _EVENTS.compiled(app.state.engine.dialect).sql
    assert values["aggregate"] in parameters and "booking" in parameters
    assert len(rows) == 3


@pytest.mark.parametrize("brief", [False, True])
async def test_a_driver_error_is_sqlalchemys_and_drops_the_connection(
    app: FastAPI, backend: str, brief: bool
) -> None:
    """SQLite: the connection is dropped. PostgreSQL refusing a statement on a read
    connection (autocommit) leaves the connection as it was: it stays and serves the next."""
    missing = CompiledRead(select(column("x")).select_from(table("no_such_table")), brief=brief)
    async with read_connection(app.state.engine) as conn:
        with pytest.raises(DBAPIError) as raised:
            await missing.rows(conn, {})
        dropped = backend == "sqlite"
        assert raised.value.connection_invalidated is dropped
        assert conn.invalidated is dropped
        if not dropped:
            assert (await conn.execute(text("SELECT 1"))).scalar() == 1
    async with read_connection(app.state.engine) as conn:  # the pool goes on
        assert (await conn.execute(text("SELECT 1"))).scalar() == 1


@pytest.mark.parametrize("settings", ["postgres"], indirect=True)  # asyncpg's cancellation
async def test_a_read_cancelled_on_an_autocommit_connection_drops_it(app: FastAPI) -> None:
    """Only the server's own refusal keeps a connection: a trip the task abandoned (its
    answer never read) drops it."""
    slow = CompiledRead(select(func.pg_sleep(5)))
    async with read_connection(app.state.engine) as conn:
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(slow.rows(conn, {}), timeout=0.2)
        assert conn.invalidated
    async with read_connection(app.state.engine) as conn:
        assert (await conn.execute(text("SELECT 1"))).scalar() == 1


# The same statement, brief: on SQLite it runs in the event loop's thread.
_BRIEF_EVENTS = CompiledRead(_EVENTS.statement, brief=True)


async def test_a_brief_read_makes_no_trip_to_sqlites_thread(
    app: FastAPI, db: AsyncSession, backend: str
) -> None:
    """On a read connection a brief read runs on SQLite in the event loop's thread (no trip to
    the connection's, where the same statement not brief makes one), with the same rows and
    cursor events. In a transaction SQLAlchemy runs it, as any read (a trip). PostgreSQL
    runs both alike."""
    values = await _events(db)
    engine = app.state.engine
    sql = _EVENTS.compiled(engine.dialect).sql
    with statements_sent(app) as sent:
        async with read_connection(engine) as conn:
            counter = await counted(conn) if backend == "sqlite" else None
            brief = [tuple(row) for row in await _BRIEF_EVENTS.rows(conn, values)]
            brief_trips = counter.trips if counter is not None else None
            threaded = [tuple(row) for row in await _EVENTS.rows(conn, values)]
            trips = counter.trips if counter is not None else None
    async with engine.begin() as conn:
        counter = await counted(conn) if backend == "sqlite" else None
        in_transaction = [tuple(row) for row in await _BRIEF_EVENTS.rows(conn, values)]
        transaction_trips = counter.trips if counter is not None else None
    assert len(brief) == 3
    assert brief == threaded == in_transaction
    assert [statement for statement, _ in sent] == [sql, sql]
    if backend == "sqlite":
        assert (brief_trips, trips, transaction_trips) == (0, 1, 1)


async def test_an_in_list_is_refused(app: FastAPI) -> None:
    by_ids = CompiledRead(
        select(_OUTBOX.id).where(_OUTBOX.id.in_(bindparam("ids", expanding=True)))
    )
    async with read_connection(app.state.engine) as conn:
        with pytest.raises(ValueError, match="IN list: ids"):
            await by_ids.rows(conn, {"ids": ["a"]})


@pytest.mark.parametrize("settings", ["postgres"], indirect=True)
async def test_a_column_read_by_its_type_code_is_refused(app: FastAPI) -> None:
    """asyncpg's Float is processed by the column's type code, which a statement compiled
    before any cursor has not: refused by name, not a TypeError at the first search."""
    average = CompiledRead(select(func.avg(_OUTBOX.attempts).cast(Float).label("average")))
    async with read_connection(app.state.engine) as conn:
        with pytest.raises(ValueError, match="column 'average'"):
            await average.rows(conn, {})


async def test_a_dialects_variant_is_what_that_dialect_runs(app: FastAPI) -> None:
    """A read written otherwise for one dialect (the same columns) runs in that form there,
    on the driver and through SQLAlchemy alike; another dialect runs the statement."""
    answer = CompiledRead(
        select(literal(1).label("answer")),
        variants={"postgresql": select(literal(2).label("answer"))},
    )
    engine = app.state.engine
    expected = 1 if app.state.settings.is_sqlite else 2
    async with read_connection(engine) as conn:
        on_driver = await answer.rows(conn, {})
    async with engine.begin() as conn:
        through_sqlalchemy = await answer.rows(conn, {})
    assert [tuple(on_driver[0]), tuple(through_sqlalchemy[0])] == [(expected,), (expected,)]


async def test_a_variant_with_other_columns_is_refused() -> None:
    with pytest.raises(ValueError, match="postgresql variant's columns"):
        CompiledRead(
            select(literal(1).label("answer")),
            variants={"postgresql": select(literal(2).label("other"))},
        )


@contextmanager
def _contexts_seen(engine: AsyncEngine, sql: str) -> Iterator[list[object]]:
    """The execution contexts cursor events see for `sql` while the block runs (None: the
    statement ran on the driver)."""
    contexts: list[object] = []

    def seen(_conn: Any, _cursor: Any, statement: str, _p: Any, context: Any, _m: Any) -> None:
        if statement == sql:
            contexts.append(context)

    event.listen(engine.sync_engine, "before_cursor_execute", seen)
    try:
        yield contexts
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", seen)


async def test_in_a_transaction_sqlalchemy_runs_it(app: FastAPI, db: AsyncSession) -> None:
    """In a transaction, read-only or not, the driver's BEGIN is SQLAlchemy's to send: the
    statement goes through SQLAlchemy's execution (its cursor events carry a context)."""
    values = await _events(db)
    engine = app.state.engine
    with _contexts_seen(engine, _EVENTS.compiled(engine.dialect).sql) as contexts:
        async with engine.begin() as conn:
            in_transaction = [tuple(row) for row in await _EVENTS.rows(conn, values)]
        # Read-only, but in a transaction (as the admin listings and the replica read).
        async with engine.connect() as conn:
            await conn.execution_options(**{READ_ONLY: True})
            async with conn.begin():
                read_only_transaction = [tuple(row) for row in await _EVENTS.rows(conn, values)]
        async with read_connection(engine) as conn:
            on_read_connection = [tuple(row) for row in await _EVENTS.rows(conn, values)]
    assert in_transaction == read_only_transaction == on_read_connection
    assert len(in_transaction) == 3
    assert contexts[0] is not None and contexts[1] is not None  # SQLAlchemy's contexts
    assert contexts[2] is None  # the driver's, without one


# --- writes ------------------------------------------------------------------------------

# An event's row, typed values (JSON, a UTC time) bound (and returned: `_NEW_EVENT`).
_INSERT_EVENT = insert(OUTBOX_TABLE).values(
    id=bindparam("id"),
    event_type="booking.created",
    aggregate_type="booking",
    aggregate_id=bindparam("aggregate"),
    payload=bindparam("payload", type_=OUTBOX_TABLE.c.payload.type),
    created_at=bindparam("at", type_=UTCDateTime()),
    attempts=0,
)
_NEW_EVENT = CompiledWrite(_INSERT_EVENT.returning(_OUTBOX.id, _OUTBOX.payload, _OUTBOX.created_at))
_EVENTS_OF = select(func.count()).where(_OUTBOX.aggregate_id == bindparam("aggregate"))


def _new_event(aggregate: str, n: int) -> dict[str, Any]:
    return {"id": new_id(), "aggregate": aggregate, "payload": {"n": n}, "at": utcnow()}


async def test_a_write_runs_on_the_driver_once_its_transaction_has_begun(
    app: FastAPI, backend: str
) -> None:
    """On asyncpg every write runs on the driver, the first after the adapter sent the
    transaction's BEGIN, all in the transaction SQLAlchemy rolls back: a rollback undoes them
    all. On SQLite they are SQLAlchemy's executions."""
    engine = app.state.engine
    aggregate = new_id()
    first, second = _new_event(aggregate, 0), _new_event(aggregate, 1)
    with _contexts_seen(engine, _NEW_EVENT.compiled(engine.dialect).sql) as contexts:
        async with engine.connect() as conn:
            transaction = await conn.begin()
            returned = [await _NEW_EVENT.named_rows(conn, e) for e in (first, second)]
            written = await conn.scalar(_EVENTS_OF, {"aggregate": aggregate})
            await transaction.rollback()
    assert [[(r.id, r.payload) for r in rows] for rows in returned] == [
        [(first["id"], {"n": 0})],
        [(second["id"], {"n": 1})],
    ]
    assert returned[1][0].created_at == second["at"]
    assert written == 2
    async with engine.connect() as conn:
        assert await conn.scalar(_EVENTS_OF, {"aggregate": aggregate}) == 0
    on_driver = backend == "postgres"
    assert [context is None for context in contexts] == [on_driver, on_driver]


@pytest.mark.parametrize("settings", ["postgres"], indirect=True)  # only asyncpg's run there
async def test_a_driver_error_in_a_write_ends_its_transaction(app: FastAPI) -> None:
    """The connection is dropped with the transaction: what it wrote before is gone."""
    engine = app.state.engine
    aggregate = new_id()
    missing = CompiledWrite(select(column("x")).select_from(table("no_such_table")))
    async with engine.connect() as conn:
        await conn.begin()
        await _NEW_EVENT.rows(conn, _new_event(aggregate, 0))
        with pytest.raises(DBAPIError) as raised:
            await missing.rows(conn, {})
        assert raised.value.connection_invalidated
        assert conn.invalidated
    async with engine.connect() as conn:
        assert await conn.scalar(_EVENTS_OF, {"aggregate": aggregate}) == 0


@pytest.mark.parametrize("settings", ["postgres"], indirect=True)
async def test_a_begin_that_fails_is_sqlalchemys_error_and_drops_the_connection(
    app: FastAPI,
) -> None:
    """The write's BEGIN, sent for it, fails as its statement would: SQLAlchemy's
    `DBAPIError`, the connection invalidated (the pool replaces it)."""
    engine = app.state.engine
    async with engine.connect() as conn:
        await conn.begin()
        backend_pid = (await conn.get_raw_connection()).driver_connection.get_server_pid()
        async with engine.connect() as other:
            await other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": backend_pid})
        with pytest.raises(DBAPIError) as raised:
            await _NEW_EVENT.rows(conn, _new_event(new_id(), 0))
        assert raised.value.connection_invalidated
        assert conn.invalidated
    async with engine.connect() as conn:  # a fresh connection serves the next request
        assert await conn.scalar(text("SELECT 1")) == 1


@pytest.mark.parametrize("settings", ["postgres"], indirect=True)
async def test_a_begin_cancelled_in_flight_drops_the_connection(app: FastAPI) -> None:
    """A task cancelled while its write's BEGIN is in flight (a worker stopped, a server
    shutting down): the server has begun a transaction that SQLAlchemy's adapter never saw.
    Kept in the pool, that connection made every later transaction a savepoint inside it, and
    nothing written on it was ever committed (sqlalchemy/sqlalchemy#13381 is the same for
    SQLAlchemy's own BEGIN). The connection is dropped: a write afterwards is committed."""
    engine = app.state.engine
    aggregate = new_id()
    begun = asyncio.Event()
    driver: Any = None

    async def write() -> None:
        nonlocal driver
        async with engine.connect() as conn:
            await conn.begin()
            driver = (await conn.get_raw_connection()).driver_connection
            begun.set()
            await _NEW_EVENT.rows(conn, _new_event(aggregate, 0))

    task = asyncio.create_task(write())
    await begun.wait()
    # asyncpg marks its transaction started before it sends the BEGIN, then waits for the
    # answer: the task is cancelled at that wait. (`_top_xact` is asyncpg's own.)
    while driver._top_xact is None:  # noqa: ASYNC110 (no event to wait for: asyncpg's state)
        await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert driver.is_closed()
    # Every connection the pool holds now, all at once: none is inside a transaction.
    async with AsyncExitStack() as stack:
        idle = [await stack.enter_async_context(engine.connect()) for _ in range(_idle(engine))]
        raws = [await conn.get_raw_connection() for conn in idle]
        assert [raw.driver_connection.is_in_transaction() for raw in raws] == [False] * len(idle)
        for n, conn in enumerate(idle, start=1):
            await conn.begin()
            await _NEW_EVENT.rows(conn, _new_event(aggregate, n))
            await conn.commit()
    async with engine.connect() as conn:
        assert await conn.scalar(_EVENTS_OF, {"aggregate": aggregate}) == len(idle)


def _idle(engine: AsyncEngine) -> int:
    return int(engine.pool.checkedin())  # type: ignore[attr-defined]


# --- batches -----------------------------------------------------------------------------

# A claim (an event's row that must exist) and then rows of events, without RETURNING.
_CLAIM_AND_WRITE = CompiledBatch(
    update(OUTBOX_TABLE)
    .where(_OUTBOX.id == bindparam("claimed"))
    .values(attempts=_OUTBOX.attempts + 1),
    _INSERT_EVENT,
    claims=True,
)


async def test_a_batch_writes_in_the_callers_transaction_with_no_trip_once_it_holds_the_lock(
    app: FastAPI, backend: str
) -> None:
    """After the transaction's first statement (its BEGIN IMMEDIATE in that trip) SQLite's
    write lock is held: the batch runs in the event loop's thread, no trip."""
    engine = app.state.engine
    aggregate = new_id()
    claimed = _new_event(aggregate, 0)
    rows = [_new_event(aggregate, n) for n in (1, 2)]
    with statements_sent(app) as sent:
        async with engine.connect() as conn:
            transaction = await conn.begin()
            await _NEW_EVENT.rows(conn, claimed)  # the transaction's first statement
            counter = await counted(conn) if backend == "sqlite" else None
            counts = await _CLAIM_AND_WRITE.rowcounts(conn, [{"claimed": claimed["id"]}, rows])
            trips = counter.trips if counter is not None else None
            written = await conn.scalar(_EVENTS_OF, {"aggregate": aggregate})
            await transaction.rollback()
    assert counts[0] == 1 and len(counts) == 2  # an executemany's count: -1 on asyncpg
    assert written == 3
    async with engine.connect() as conn:
        assert await conn.scalar(_EVENTS_OF, {"aggregate": aggregate}) == 0  # rolled back
    batch_sql = [s.compiled(engine.dialect).sql for s in _CLAIM_AND_WRITE.statements]
    assert [sql for sql, _ in sent if sql in batch_sql] == [batch_sql[0], batch_sql[1]]
    assert trips == (0 if backend == "sqlite" else None)


async def test_a_batch_that_begins_its_transaction_is_one_trip_on_sqlite(
    app: FastAPI, backend: str
) -> None:
    """The transaction's first statements: its BEGIN IMMEDIATE (which may wait for the lock)
    and the writes go to the connection's thread together, in one trip."""
    engine = app.state.engine
    aggregate = new_id()
    async with engine.connect() as conn:
        counter = await counted(conn) if backend == "sqlite" else None
        transaction = await conn.begin()
        counts = await _CLAIM_AND_WRITE.rowcounts(
            conn, [{"claimed": "no-such-event"}, [_new_event(aggregate, 1)]]
        )
        trips = counter.trips if counter is not None else None
        await transaction.commit()
    assert counts == [0]  # the claim wrote nothing: the rest did not run
    assert trips == (1 if backend == "sqlite" else None)


async def test_a_claim_that_writes_nothing_stops_the_batch(app: FastAPI) -> None:
    engine = app.state.engine
    aggregate = new_id()
    async with engine.connect() as conn:
        transaction = await conn.begin()
        await _NEW_EVENT.rows(conn, _new_event(new_id(), 0))
        counts = await _CLAIM_AND_WRITE.rowcounts(
            conn, [{"claimed": "no-such-event"}, [_new_event(aggregate, 1)]]
        )
        written = await conn.scalar(_EVENTS_OF, {"aggregate": aggregate})
        await transaction.rollback()
    assert counts == [0]
    assert written == 0
