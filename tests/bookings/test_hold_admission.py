"""Holds are admitted to the database a few at a time (platform/db.py `WRITE_ADMISSION`): while
every write slot is taken, a hold waits for one and a read of a booking is answered at once,
instead of queueing for a connection behind every hold."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from fastapi import FastAPI

from flightdeck.bookings import holds
from flightdeck.bookings.schemas import BookingCreate
from flightdeck.platform.settings import Settings
from tests.bookings.factories import book, booking_body, future_flight, traveller
from tests.conftest import TestUser

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_a_hold_waits_for_a_write_slot_while_a_read_goes_ahead(
    client: httpx.AsyncClient, app: FastAPI, agent: TestUser, passenger: TestUser
) -> None:
    flight = await future_flight(client, agent.headers)
    first = await book(client, passenger.headers, booking_body([flight["id"]], passengers=1))
    slots: asyncio.Semaphore = app.state.database_write_slots
    settings = app.state.settings
    taken = 0
    while not slots.locked():  # every write slot busy, as under a load of holds
        await slots.acquire()
        taken += 1
    try:
        body = booking_body([flight["id"]], passengers=[traveller(7)])
        hold = asyncio.create_task(client.post("/bookings", json=body, headers=passenger.headers))
        read = await client.get(f"/bookings/{first['id']}", headers=passenger.headers)

        assert read.status_code == 200, read.text
        # Given time to finish, the hold has not: it waits for a slot (a wait, not a timing).
        finished, _ = await asyncio.wait({hold}, timeout=0.5)
        assert not finished
    finally:
        for _ in range(taken):
            slots.release()
    held = await hold
    assert held.status_code == 201, held.text
    assert taken == max(1, settings.database_pool_size - settings.database_read_reserve)
    assert not slots.locked()  # the hold gave its slot back once it had committed


@pytest.mark.parametrize("settings", ["postgres"], indirect=True)
@pytest.mark.parametrize("booking_store", ["sql"], indirect=True)
async def test_a_hold_of_one_flight_waits_for_a_brief_slot_while_a_transaction_goes_ahead(
    client: httpx.AsyncClient, app: FastAPI, agent: TestUser, passenger: TestUser
) -> None:
    flight = await future_flight(client, agent.headers)
    # A first brief hold, which makes the app's brief slots.
    await book(client, passenger.headers, booking_body([flight["id"]], passengers=1))
    brief: asyncio.Semaphore = app.state.database_brief_write_slots
    taken = 0
    while not brief.locked():  # every brief slot busy: holds of one flight, under load
        await brief.acquire()
        taken += 1
    try:
        body = booking_body([flight["id"]], passengers=[traveller(8)])
        waiting = asyncio.create_task(
            client.post("/bookings", json=body, headers=passenger.headers)
        )
        # A chosen seat makes the hold a transaction of several statements: a write slot of
        # its own, not a brief one.
        seated = booking_body([flight["id"]], passengers=[traveller(9, seat="12A")])
        transaction = await client.post("/bookings", json=seated, headers=passenger.headers)

        assert transaction.status_code == 201, transaction.text
        finished, _ = await asyncio.wait({waiting}, timeout=0.5)
        assert not finished  # a wait for a brief slot, not a timing
    finally:
        for _ in range(taken):
            brief.release()
    held = await waiting
    assert held.status_code == 201, held.text
    assert taken == app.state.settings.database_brief_write_slots
    assert not brief.locked()


async def test_a_brief_hold_is_of_one_flight_without_a_seat_on_postgresql_and_sql() -> None:
    one = BookingCreate.model_validate(booking_body(["f1"], passengers=2))
    seated = BookingCreate.model_validate(
        booking_body(["f1"], passengers=[traveller(0, seat="12A")])
    )
    two = BookingCreate.model_validate(booking_body(["f1", "f2"], passengers=1))
    sql = Settings(database_url="postgresql+asyncpg://db.example.com/fd", bookings_store_url="")
    mongo = sql.model_copy(update={"bookings_store_url": "mongodb://db.example.com/fd"})
    sqlite = sql.model_copy(update={"database_url": "sqlite+aiosqlite:///var/fd.db"})

    assert holds.brief_hold(one, sql)
    assert not holds.brief_hold(seated, sql)
    assert not holds.brief_hold(two, sql)
    assert not holds.brief_hold(one, mongo)  # a SQL transaction and the store's write
    assert not holds.brief_hold(one, sqlite)  # two trips under the one writer's lock
