"""Round trips of one hold (POST /bookings), counted with SQLAlchemy's `before_cursor_execute`
event: the statements the request's own work sends to the SQL database (BEGIN and COMMIT are
not cursor executions, so not counted). A change that adds a round trip to the hold path
changes a count pinned here, on purpose."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.bookings.factories import (
    book,
    booking_body,
    connecting_flights,
    future_flight,
    traveller,
)
from tests.conftest import TestUser
from tests.statements import Statement, statements_sent

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def _second_hold(
    client: httpx.AsyncClient,
    app: FastAPI,
    body: dict[str, Any],
    headers: dict[str, str],
    *,
    first_headers: dict[str, str] | None = None,
) -> list[Statement]:
    """The statements of a hold made after a first one of the same body (the caller's
    identity and the statements' compiled forms cached, as under load)."""
    await book(client, first_headers or headers, body)
    with statements_sent(app) as statements:
        response = await client.post("/bookings", json=body, headers=headers)
    assert response.status_code == 201, response.text
    return statements


def _first_words(statements: list[Statement]) -> str:
    return "\n".join(" ".join(sql.split()[:5]) for sql, _ in statements)


# Statements of one hold, the caller's identity cached (as for every request after a user's
# first), by booking store and database. PostgreSQL with the SQL store: a booking of one flight
# with no chosen seat, whose flight this process has read already, is one statement in
# autocommit (bookings/holds.py), with no BEGIN or COMMIT (tests/bookings/
# test_hold_in_one_statement.py). Any other hold is a transaction (`IN_TRANSACTION`).
HOLD_STATEMENTS = {
    ("sql", "postgres"): 1,
    ("sql", "sqlite"): 8,
    ("mongo", "postgres"): 2,
    ("mongo", "sqlite"): 4,
}
# A hold in a transaction with the SQL store. PostgreSQL (BEGIN and COMMIT aside): the seats
# taken with the flight share-locked and the hold row written; then the PNR's claim, the
# booking, its segments, passengers and event in one statement (with MongoDB: the event
# alone). SQLite: the flight (its BEGIN IMMEDIATE goes before it, in its trip:
# platform/sqlite_driver.py), the seats, the hold row; then the claim, the booking, its
# segments, its passengers and its event (MongoDB: the event).
IN_TRANSACTION = {"postgres": 2, "sqlite": 8}
# A second flight: its seats and hold row (three on SQLite), and on PostgreSQL one statement
# that share-locks both flights first.
SECOND_FLIGHT = {"postgres": 2, "sqlite": 3}
IDEMPOTENT_EXTRA = 2  # claim the key (replacing an expired one), save the response
# A hold with an Idempotency-Key, of one flight: on PostgreSQL the key's row, with its
# response, is written in the hold's one statement (bookings/holds.py); on SQLite the key is
# claimed and its response saved in the hold's transaction.
KEYED_ONE_FLIGHT = {"postgres": 1, "sqlite": IN_TRANSACTION["sqlite"] + IDEMPOTENT_EXTRA}


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
    statements = await _second_hold(client, app, body, passenger.headers)
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
    statements = await _second_hold(client, app, body, passenger.headers)
    expected = IN_TRANSACTION[backend] + SECOND_FLIGHT[backend]
    assert len(statements) == expected, _first_words(statements)


@pytest.mark.parametrize("booking_store", ["sql"], indirect=True)
async def test_a_hold_with_an_idempotency_key_adds_only_the_key_statements(
    client: httpx.AsyncClient,
    app: FastAPI,
    agent: TestUser,
    passenger: TestUser,
    backend: str,
) -> None:
    first, second = await connecting_flights(client, agent.headers)
    body = booking_body([first["id"]], passengers=1)
    headers = passenger.headers | {"Idempotency-Key": "count-me"}
    statements = await _second_hold(client, app, body, headers, first_headers=passenger.headers)
    assert len(statements) == KEYED_ONE_FLIGHT[backend], _first_words(statements)
    # Two flights are held in a transaction, where the key's two statements join the hold's.
    body = booking_body([first["id"], second["id"]], passengers=1)
    headers = passenger.headers | {"Idempotency-Key": "count-me-too"}
    statements = await _second_hold(client, app, body, headers, first_headers=passenger.headers)
    expected = IN_TRANSACTION[backend] + SECOND_FLIGHT[backend] + IDEMPOTENT_EXTRA
    assert len(statements) == expected, _first_words(statements)


# A read of one booking by id: its booking, segments and passengers in one statement, on
# either database (a GET sends no BEGIN: platform/db.py, `get_session`); by PNR, the PNR's
# row first.
READ_STATEMENTS = 1


@pytest.mark.parametrize("booking_store", ["sql"], indirect=True)
async def test_a_read_of_one_booking_makes_a_pinned_number_of_statements(
    client: httpx.AsyncClient,
    app: FastAPI,
    agent: TestUser,
    passenger: TestUser,
) -> None:
    first, second = await connecting_flights(client, agent.headers)
    body = booking_body([first["id"], second["id"]], passengers=[traveller(0), traveller(1)])
    booking = await book(client, passenger.headers, body)
    for reference, extra in ((booking["id"], 0), (booking["pnr"].lower(), 1)):
        with statements_sent(app) as statements:
            response = await client.get(f"/bookings/{reference}", headers=passenger.headers)
        assert response.status_code == 200, response.text
        assert response.json() == booking
        assert len(statements) == READ_STATEMENTS + extra, _first_words(statements)
