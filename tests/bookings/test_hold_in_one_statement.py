"""A booking of one flight with no chosen seat, on PostgreSQL: held and written in one
statement on condition that the flight is as it was read (bookings/holds.py,
flights/inventory/hold_statement.py), or the transactional way when it is not."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncSession

from flightdeck.bookings import holds
from tests.bookings.factories import (
    book,
    booking_body,
    booking_events,
    fetch_rows,
    future_flight,
    seats_available,
)
from tests.conftest import TestUser, assert_error
from tests.flights.factories import money
from tests.statements import postgres_queries, statements_sent

pytestmark = [
    pytest.mark.asyncio(loop_scope="session"),
    pytest.mark.parametrize("settings", ["postgres"], indirect=True),
    pytest.mark.parametrize("booking_store", ["sql"], indirect=True),
]


async def flight_read(
    client: httpx.AsyncClient, agent: TestUser, passenger: TestUser
) -> dict[str, Any]:
    """A flight this process has read for a hold: one seat booked on it."""
    flight = await future_flight(client, agent.headers)
    await book(client, passenger.headers, booking_body([flight["id"]]))
    return flight


async def change(db: AsyncSession, sql: str, **params: Any) -> None:
    await db.execute(text(sql), params)
    await db.commit()


async def count(db: AsyncSession, sql: str, **params: Any) -> int:
    [row] = await fetch_rows(db, sql, **params)
    return int(row[0])


async def test_a_flight_read_before_is_held_and_booked_in_one_statement(
    client: httpx.AsyncClient, app: FastAPI, agent: TestUser, passenger: TestUser
) -> None:
    flight = await flight_read(client, agent, passenger)
    with postgres_queries(app) as sent:
        booking = await book(client, passenger.headers, booking_body([flight["id"]], passengers=2))
    [statement] = sent  # no BEGIN, no COMMIT: the statement is its own transaction
    assert "UPDATE flight_cabins" in statement and "INSERT INTO bookings" in statement
    assert booking["total_price"] == money(2 * 45000)
    assert await seats_available(client, flight["id"]) == 147


async def test_both_ways_write_the_same_booking(
    client: httpx.AsyncClient,
    app: FastAPI,
    agent: TestUser,
    passenger: TestUser,
    db: AsyncSession,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    at_once = await future_flight(client, agent.headers)
    in_transaction = await future_flight(client, agent.headers, flight_number="FD102")
    await book(client, passenger.headers, booking_body([at_once["id"]]))  # reads the flight
    with postgres_queries(app) as sent_at_once:
        made = [await book(client, passenger.headers, booking_body([at_once["id"]], passengers=2))]
    assert len(sent_at_once) == 1
    monkeypatch.setattr(holds, "_one_statement_applies", lambda *args: False)
    with statements_sent(app) as sent:
        body = booking_body([in_transaction["id"]], passengers=2)
        made.append(await book(client, passenger.headers, body))
    assert not any("INSERT INTO bookings" in sql and "flight_cabins" in sql for sql, _ in sent)

    def shown(booking: dict[str, Any]) -> dict[str, Any]:
        varying = {"id", "pnr", "created_at", "updated_at", "hold_expires_at"}
        kept = {k: v for k, v in booking.items() if k not in varying}
        kept["segments"] = [
            {k: v for k, v in s.items() if k not in {"flight_id", "flight_number"}}
            for s in booking["segments"]
        ]
        return kept

    assert shown(made[0]) == shown(made[1])
    for booking, flight, left in zip(made, (at_once, in_transaction), (147, 148), strict=True):
        holds_rows = await fetch_rows(
            db,
            "SELECT cabin, quantity FROM inventory_holds WHERE booking_id = :b AND flight_id = :f",
            b=booking["id"],
            f=flight["id"],
        )
        assert [tuple(r) for r in holds_rows] == [("economy", 2)]
        assert await seats_available(client, flight["id"]) == left
        [created] = await booking_events(db, booking["id"])
        assert created.payload == {
            "booking_id": booking["id"],
            "pnr": booking["pnr"],
            "user_id": passenger.id,
            "status": "pending_payment",
            "flight_ids": [flight["id"]],
            "total": money(90000),
        }
        assert (
            await count(
                db, "SELECT count(*) FROM booking_references WHERE pnr = :p", p=booking["pnr"]
            )
            == 1
        )


async def test_a_fare_changed_since_the_flight_was_read_is_the_one_charged(
    client: httpx.AsyncClient, agent: TestUser, passenger: TestUser, db: AsyncSession
) -> None:
    flight = await flight_read(client, agent, passenger)
    await change(
        db,
        "UPDATE flight_cabins SET fare_amount = 52000 WHERE flight_id = :f AND cabin = 'economy'",
        f=flight["id"],
    )
    for _ in range(2):  # held the transactional way, then in one statement as read again
        booking = await book(client, passenger.headers, booking_body([flight["id"]]))
        assert booking["total_price"] == money(52000)
    assert await seats_available(client, flight["id"]) == 147


async def test_a_flight_cancelled_since_it_was_read_takes_no_booking(
    client: httpx.AsyncClient, agent: TestUser, passenger: TestUser, db: AsyncSession
) -> None:
    flight = await flight_read(client, agent, passenger)
    await change(db, "UPDATE flights SET status = 'cancelled' WHERE id = :f", f=flight["id"])
    response = await client.post(
        "/bookings", json=booking_body([flight["id"]]), headers=passenger.headers
    )
    assert_error(response, 409, "flight_not_bookable")
    sold = "SELECT sold FROM flight_cabins WHERE flight_id = :f AND cabin = 'economy'"
    assert await count(db, sold, f=flight["id"]) == 1
    bookings = "SELECT count(*) FROM booking_segments WHERE flight_id = :f"
    assert await count(db, bookings, f=flight["id"]) == 1


async def test_a_cabin_added_since_the_flight_was_read_is_offered(
    client: httpx.AsyncClient, agent: TestUser, passenger: TestUser, db: AsyncSession
) -> None:
    flight = await flight_read(client, agent, passenger)
    await change(
        db,
        "INSERT INTO flight_cabins (id, flight_id, cabin, capacity, sold, fare_amount, "
        "fare_currency) VALUES (:id, :f, 'first', 8, 0, 900000, 'USD')",
        id=str(uuid.uuid4()),
        f=flight["id"],
    )
    booking = await book(client, passenger.headers, booking_body([flight["id"]], cabin="first"))
    assert booking["total_price"] == money(900000)
    assert await seats_available(client, flight["id"], "first") == 7


async def test_a_cabin_short_of_seats_is_refused_and_nothing_is_written(
    client: httpx.AsyncClient, agent: TestUser, passenger: TestUser, db: AsyncSession
) -> None:
    flight = await future_flight(client, agent.headers, economy_seats=2)
    await book(client, passenger.headers, booking_body([flight["id"]], passengers=2))
    response = await client.post(
        "/bookings", json=booking_body([flight["id"]]), headers=passenger.headers
    )
    assert_error(response, 409, "seats_unavailable")
    assert response.json()["error"]["details"] == {
        "flight_id": flight["id"],
        "flight_number": flight["flight_number"],
        "requested": 1,
        "available": 0,
    }
    for table in ("inventory_holds", "booking_segments"):
        rows = f"SELECT count(*) FROM {table} WHERE flight_id = :f"
        assert await count(db, rows, f=flight["id"]) == 1
    assert await seats_available(client, flight["id"]) == 0


def keyed(passenger: TestUser, key: str) -> dict[str, str]:
    return passenger.headers | {"Idempotency-Key": key}


async def test_a_keyed_hold_stores_its_answer_in_the_one_statement(
    client: httpx.AsyncClient,
    app: FastAPI,
    agent: TestUser,
    passenger: TestUser,
    db: AsyncSession,
) -> None:
    flight = await flight_read(client, agent, passenger)
    body = booking_body([flight["id"]], passengers=2)
    with postgres_queries(app) as sent:
        first = await client.post("/bookings", json=body, headers=keyed(passenger, "app-1"))
    assert first.status_code == 201, first.text
    [statement] = sent
    assert "INSERT INTO idempotency_keys" in statement and "UPDATE flight_cabins" in statement
    again = await client.post("/bookings", json=body, headers=keyed(passenger, "app-1"))
    assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    [(status_code, stored)] = await fetch_rows(
        db, "SELECT response_status, response_body FROM idempotency_keys WHERE key = 'app-1'"
    )
    assert status_code == 201
    assert first.json()["passengers"][0]["last_name"] not in stored  # encrypted at rest
    assert await seats_available(client, flight["id"]) == 147


async def test_a_key_met_in_the_statement_takes_no_seats_and_replays(
    client: httpx.AsyncClient,
    app: FastAPI,
    agent: TestUser,
    passenger: TestUser,
    db: AsyncSession,
) -> None:
    flight = await flight_read(client, agent, passenger)
    body = booking_body([flight["id"]])
    first = await client.post("/bookings", json=body, headers=keyed(passenger, "app-2"))
    assert first.status_code == 201, first.text
    pool = app.state.engine.sync_engine.pool
    dropped: list[Any] = []

    def record(*args: Any) -> None:
        dropped.append(args)

    event.listen(pool, "invalidate", record)
    try:
        with postgres_queries(app) as sent:
            again = await client.post("/bookings", json=body, headers=keyed(passenger, "app-2"))
    finally:
        event.remove(pool, "invalidate", record)
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    # The one statement took the seats, met the key's row and was undone whole; PostgreSQL's
    # refusal left its connection usable, and in the pool.
    assert "INSERT INTO idempotency_keys" in sent[0] and "UPDATE flight_cabins" in sent[0]
    assert dropped == []
    assert await seats_available(client, flight["id"]) == 148
    bookings = "SELECT count(*) FROM booking_segments WHERE flight_id = :f"
    assert await count(db, bookings, f=flight["id"]) == 2


async def test_a_stored_key_is_replayed_when_the_flight_has_sold_out_since(
    client: httpx.AsyncClient, agent: TestUser, passenger: TestUser
) -> None:
    flight = await future_flight(client, agent.headers, economy_seats=1)
    body = booking_body([flight["id"]])
    first = await client.post("/bookings", json=body, headers=keyed(passenger, "app-3"))
    assert first.status_code == 201, first.text
    again = await client.post("/bookings", json=body, headers=keyed(passenger, "app-3"))
    assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    other = booking_body([flight["id"]], passengers=2)
    reused = await client.post("/bookings", json=other, headers=keyed(passenger, "app-3"))
    assert_error(reused, 409, "idempotency_key_reused")


async def test_a_keyed_hold_refused_keeps_no_key(
    client: httpx.AsyncClient, agent: TestUser, passenger: TestUser, db: AsyncSession
) -> None:
    flight = await future_flight(client, agent.headers, economy_seats=1)
    await book(client, passenger.headers, booking_body([flight["id"]]))
    refused = await client.post(
        "/bookings", json=booking_body([flight["id"]]), headers=keyed(passenger, "app-4")
    )
    assert_error(refused, 409, "seats_unavailable")
    assert await fetch_rows(db, "SELECT id FROM idempotency_keys WHERE key = 'app-4'") == []


async def test_one_key_sent_eight_times_at_once_makes_one_booking(
    client: httpx.AsyncClient,
    app: FastAPI,
    agent: TestUser,
    passenger: TestUser,
    db: AsyncSession,
) -> None:
    flight = await flight_read(client, agent, passenger)
    body = booking_body([flight["id"]])
    with postgres_queries(app) as sent:
        responses = await asyncio.gather(
            *(
                client.post("/bookings", json=body, headers=keyed(passenger, "app-5"))
                for _ in range(8)
            )
        )
    assert any("INSERT INTO idempotency_keys" in sql and "flight_cabins" in sql for sql in sent)
    created = [r for r in responses if r.status_code == 201]
    assert {r.json()["id"] for r in created} == {created[0].json()["id"]}
    assert sum("Idempotent-Replayed" not in r.headers for r in created) == 1
    for response in responses:
        if response.status_code != 201:
            assert_error(response, 409, "idempotency_request_in_progress")
    assert await seats_available(client, flight["id"]) == 148
    bookings = "SELECT count(*) FROM booking_segments WHERE flight_id = :f"
    assert await count(db, bookings, f=flight["id"]) == 2
