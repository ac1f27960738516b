"""Holds are admitted to the database a few at a time (platform/db.py `WRITE_ADMISSION`): while
every write slot is taken, a hold waits for one and a read of a booking is answered at once,
instead of queueing for a connection behind every hold."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from fastapi import FastAPI

from tests.bookings.factories import booking_body, future_flight, traveller
from tests.conftest import TestUser

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_a_hold_waits_for_a_write_slot_while_a_read_goes_ahead(
    client: httpx.AsyncClient, app: FastAPI, agent: TestUser, passenger: TestUser
) -> None:
    flight = await future_flight(client, agent.headers)
    first = await client.post(
        "/bookings", json=booking_body([flight["id"]], passengers=1), headers=passenger.headers
    )
    assert first.status_code == 201, first.text
    slots: asyncio.Semaphore = app.state.database_write_slots
    settings = app.state.settings
    taken = 0
    while not slots.locked():  # every write slot busy, as under a load of holds
        await slots.acquire()
        taken += 1
    try:
        body = booking_body([flight["id"]], passengers=[traveller(7)])
        hold = asyncio.create_task(client.post("/bookings", json=body, headers=passenger.headers))
        read = await client.get(f"/bookings/{first.json()['id']}", headers=passenger.headers)

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
