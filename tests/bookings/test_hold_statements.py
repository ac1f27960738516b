"""Round trips of one hold (POST /bookings), counted with SQLAlchemy's `before_cursor_execute`
event: the statements the request's own work sends to the SQL database (BEGIN and COMMIT are
not cursor executions, so not counted). A change that adds a round trip to the hold path
changes a count pinned here, on purpose."""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import event

from tests.bookings.factories import booking_body, connecting_flights, future_flight, traveller
from tests.conftest import TestUser

pytestmark = pytest.mark.asyncio(loop_scope="session")

# Set around the request under test: statements of other tasks (the outbox relay, event
# handlers of earlier requests) run in contexts without it and are not counted.
_COUNTING: contextvars.ContextVar[list[str] | None] = contextvars.ContextVar(
    "counting", default=None
)


def _count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
    statements = _COUNTING.get()
    if statements is not None:
        statements.append(statement)


@contextmanager
def counted_statements(app: FastAPI) -> Iterator[list[str]]:
    """The SQL statements this task sends while the block runs (SQLAlchemy's greenlets run in
    the calling task's context)."""
    statements: list[str] = []
    engine = app.state.engine.sync_engine
    event.listen(engine, "before_cursor_execute", _count)
    token = _COUNTING.set(statements)
    try:
        yield statements
    finally:
        _COUNTING.reset(token)
        event.remove(engine, "before_cursor_execute", _count)


def _first_words(statements: list[str]) -> str:
    return "\n".join(" ".join(s.split()[:5]) for s in statements)


# Statements of one hold, the caller's identity cached (as for every request after a user's
# first), by booking store and database. PostgreSQL (BEGIN and COMMIT aside): the seats taken
# with the flight share-locked and the hold row written; then, with the SQL store, the PNR's
# claim, the booking, its segments, passengers and event in one statement (with MongoDB: the
# event alone). SQLite: BEGIN IMMEDIATE, the flight, the seats, the hold row; then the claim,
# the booking, its segments, its passengers and its event (MongoDB: the event).
HOLD_STATEMENTS = {
    ("sql", "postgres"): 2,
    ("sql", "sqlite"): 9,
    ("mongo", "postgres"): 2,
    ("mongo", "sqlite"): 5,
}
# A second flight: its seats and hold row (three on SQLite), and on PostgreSQL one statement
# that share-locks both flights first.
SECOND_FLIGHT = {"postgres": 2, "sqlite": 3}
IDEMPOTENT_EXTRA = 2  # claim the key (replacing an expired one), save the response


async def test_a_hold_makes_a_pinned_number_of_statements(
    client: httpx.AsyncClient,
    app: FastAPI,
    agent: TestUser,
    passenger: TestUser,
    backend: str,
    booking_store: str,
) -> None:
    flight = await future_flight(client, agent.headers)
    body = booking_body([flight["id"]], passengers=[traveller(0), traveller(1)])
    first = await client.post("/bookings", json=body, headers=passenger.headers)
    assert first.status_code == 201, first.text
    with counted_statements(app) as statements:
        response = await client.post("/bookings", json=body, headers=passenger.headers)
    assert response.status_code == 201, response.text
    expected = HOLD_STATEMENTS[booking_store, backend]
    assert len(statements) == expected, _first_words(statements)


@pytest.mark.parametrize("booking_store", ["sql"], indirect=True)
async def test_a_two_flight_hold_adds_the_second_flights_statements(
    client: httpx.AsyncClient,
    app: FastAPI,
    agent: TestUser,
    passenger: TestUser,
    backend: str,
) -> None:
    first, second = await connecting_flights(client, agent.headers)
    body = booking_body([first["id"], second["id"]], passengers=2)
    warm = await client.post("/bookings", json=body, headers=passenger.headers)
    assert warm.status_code == 201, warm.text
    with counted_statements(app) as statements:
        response = await client.post("/bookings", json=body, headers=passenger.headers)
    assert response.status_code == 201, response.text
    expected = HOLD_STATEMENTS["sql", backend] + SECOND_FLIGHT[backend]
    assert len(statements) == expected, _first_words(statements)


@pytest.mark.parametrize("booking_store", ["sql"], indirect=True)
async def test_a_hold_with_an_idempotency_key_adds_only_the_key_statements(
    client: httpx.AsyncClient,
    app: FastAPI,
    agent: TestUser,
    passenger: TestUser,
    backend: str,
) -> None:
    flight = await future_flight(client, agent.headers)
    body = booking_body([flight["id"]], passengers=1)
    first = await client.post("/bookings", json=body, headers=passenger.headers)
    assert first.status_code == 201, first.text
    headers = passenger.headers | {"Idempotency-Key": "count-me"}
    with counted_statements(app) as statements:
        response = await client.post("/bookings", json=body, headers=headers)
    assert response.status_code == 201, response.text
    expected = HOLD_STATEMENTS["sql", backend] + IDEMPOTENT_EXTRA
    assert len(statements) == expected, _first_words(statements)


# A read of one booking by id: its booking, segments and passengers in one statement (SQLite:
# after its BEGIN); by PNR, the PNR's row first.
READ_STATEMENTS = {"postgres": 1, "sqlite": 2}


@pytest.mark.parametrize("booking_store", ["sql"], indirect=True)
async def test_a_read_of_one_booking_makes_a_pinned_number_of_statements(
    client: httpx.AsyncClient,
    app: FastAPI,
    agent: TestUser,
    passenger: TestUser,
    backend: str,
) -> None:
    first, second = await connecting_flights(client, agent.headers)
    body = booking_body([first["id"], second["id"]], passengers=[traveller(0), traveller(1)])
    held = await client.post("/bookings", json=body, headers=passenger.headers)
    assert held.status_code == 201, held.text
    booking = held.json()
    for reference, extra in ((booking["id"], 0), (booking["pnr"].lower(), 1)):
        with counted_statements(app) as statements:
            response = await client.get(f"/bookings/{reference}", headers=passenger.headers)
        assert response.status_code == 200, response.text
        assert response.json() == booking
        assert len(statements) == READ_STATEMENTS[backend] + extra, _first_words(statements)
