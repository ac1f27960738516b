"""SQL inventory and MongoDB bookings stay consistent: seats are held before the booking is
written, a failed write rolls the hold back (503, never a 500), and the sweeper repairs what
a failure between the two commits leaves behind."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from pymongo import AsyncMongoClient
from sqlalchemy.ext.asyncio import AsyncSession

from flightdeck.app import create_app
from flightdeck.bookings import holds, service
from flightdeck.bookings.mongo_client import ensure_indexes
from flightdeck.bookings.schemas import BookingCreate
from flightdeck.bookings.sweeper import (
    REPAIR_GRACE,
    release_expired_holds,
    repair_unreleased_seats,
)
from flightdeck.platform.clock import clock, utcnow
from flightdeck.platform.security.auth import Principal
from tests.bookings.factories import (
    book,
    booking_body,
    fetch_rows,
    future_flight,
    seats_available,
    traveller,
)
from tests.bookings.stores import (
    count_stored_bookings,
    mongo_collection,
    mongo_settings,
    stored_booking,
)
from tests.conftest import assert_unavailable
from tests.servers.mongo import MongoServer, running_mongo

if TYPE_CHECKING:  # imported at run time, pytest would try to collect the class
    from tests.conftest import TestUser

pytestmark = [
    pytest.mark.asyncio(loop_scope="session"),
    pytest.mark.parametrize("booking_store", ["mongo"], indirect=True),
]

PAST_THE_HOLD = timedelta(minutes=15, seconds=1)
PAST_THE_REPAIR_GRACE = REPAIR_GRACE + timedelta(seconds=1)


@asynccontextmanager
async def inserts_failing(server: MongoServer) -> AsyncIterator[None]:
    """The server drops the app's connection on every insert (a network failure mid-write);
    the test's own client, under another app name, switches that on and off."""
    admin: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(server.uri, appname="tests")
    data = {"failCommands": ["insert"], "closeConnection": True, "appName": "flightdeck"}
    try:
        await admin.admin.command("configureFailPoint", "failCommand", mode="alwaysOn", data=data)
        yield
    finally:
        await admin.admin.command("configureFailPoint", "failCommand", mode="off")
        await admin.close()


@asynccontextmanager
async def serving(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with (
        LifespanManager(app),
        httpx.AsyncClient(transport=transport, base_url="http://testserver") as http,
    ):
        yield http


async def sql_count(db: AsyncSession, sql: str) -> int:
    [(count,)] = await fetch_rows(db, sql)
    return int(count)


async def test_a_booking_whose_store_write_fails_is_a_503_that_holds_no_seats(
    client: httpx.AsyncClient,
    app: FastAPI,
    agent: TestUser,
    passenger: TestUser,
    db: AsyncSession,
    mongo_server: MongoServer,
) -> None:
    flight = await future_flight(client, agent.headers)
    body = booking_body([flight["id"]], passengers=[traveller(0, seat="12A")])
    headers = {**passenger.headers, "Idempotency-Key": "store-write-fails"}

    async with inserts_failing(mongo_server):
        response = await client.post("/bookings", json=body, headers=headers)

    assert_unavailable(response, "booking_store_unavailable")
    assert response.headers["Retry-After"] == "5"
    assert await seats_available(client, flight["id"]) == 150
    assert await sql_count(db, "SELECT count(*) FROM inventory_holds") == 0
    assert await sql_count(db, "SELECT count(*) FROM seat_assignments") == 0
    assert await sql_count(db, "SELECT count(*) FROM idempotency_keys") == 0
    assert (
        await sql_count(db, "SELECT count(*) FROM outbox_events WHERE aggregate_type = 'booking'")
        == 0
    )
    assert await count_stored_bookings(app) == 0
    # The failure kept nothing, so the same request with the same key now simply books.
    retried = await client.post("/bookings", json=body, headers=headers)
    assert retried.status_code == 201, retried.text
    assert "Idempotent-Replayed" not in retried.headers
    assert await seats_available(client, flight["id"]) == 149


async def test_while_the_store_is_down_requests_are_503_and_it_recovers_without_a_restart(
    client: httpx.AsyncClient, app: FastAPI, agent: TestUser, passenger: TestUser
) -> None:
    flight = await future_flight(client, agent.headers)
    body = booking_body([flight["id"]], passengers=2)
    with running_mongo() as server:
        own_app = create_app(mongo_settings(app.state.settings, server))
        async with serving(own_app) as own_client:
            server.stop()
            booking = await own_client.post("/bookings", json=body, headers=passenger.headers)
            listing = await own_client.get("/bookings", headers=passenger.headers)
            assert_unavailable(booking, "booking_store_unavailable")
            assert_unavailable(listing, "booking_store_unavailable")
            assert await seats_available(client, flight["id"]) == 150

            server.restart()  # empty storage on the same port
            await ensure_indexes(mongo_collection(own_app))
            created = await book(own_client, passenger.headers, body)
            fetched = await own_client.get(f"/bookings/{created['pnr']}", headers=passenger.headers)
            assert fetched.status_code == 200, fetched.text
            assert fetched.json()["id"] == created["id"]
    assert await seats_available(client, flight["id"]) == 148


@pytest.mark.parametrize("ending", ["cancelled", "expired"])
async def test_the_repair_pass_releases_seats_whose_release_never_committed(
    client: httpx.AsyncClient, app: FastAPI, agent: TestUser, passenger: TestUser, ending: str
) -> None:
    flight = await future_flight(client, agent.headers)
    booking = await book(client, passenger.headers, booking_body([flight["id"]], passengers=2))
    if ending == "expired":
        clock.advance(PAST_THE_HOLD)
    # The status change commits in MongoDB; the SQL transaction releasing the seats fails.
    async with app.state.sessionmaker() as session:
        if ending == "cancelled":
            principal = Principal(passenger.id, "passenger")
            await service.cancel_booking(session, principal, booking["id"])
        else:
            assert await service.expire_booking(session, booking["id"], utcnow())
        await session.rollback()
    stored = await stored_booking(app, booking["id"])
    assert stored is not None and stored.status == ending and stored.seats_released_at is None
    assert await seats_available(client, flight["id"]) == 148

    sessionmaker, settings = app.state.sessionmaker, app.state.settings
    assert await repair_unreleased_seats(sessionmaker, settings) == 0  # still within the grace
    clock.advance(PAST_THE_REPAIR_GRACE)
    assert await repair_unreleased_seats(sessionmaker, settings) == 1

    assert await seats_available(client, flight["id"]) == 150
    repaired = await stored_booking(app, booking["id"])
    assert repaired is not None and repaired.seats_released_at is not None
    assert await repair_unreleased_seats(sessionmaker, settings) == 0


async def test_a_cancellation_that_committed_everywhere_is_only_marked_by_the_repair_pass(
    client: httpx.AsyncClient, app: FastAPI, agent: TestUser, passenger: TestUser
) -> None:
    flight = await future_flight(client, agent.headers)
    booking = await book(client, passenger.headers, booking_body([flight["id"]]))
    response = await client.delete(f"/bookings/{booking['id']}", headers=passenger.headers)
    assert response.status_code == 200, response.text
    assert await seats_available(client, flight["id"]) == 150

    clock.advance(PAST_THE_REPAIR_GRACE)
    assert await repair_unreleased_seats(app.state.sessionmaker, app.state.settings) == 1

    assert await seats_available(client, flight["id"]) == 150  # nothing given back twice
    repaired = await stored_booking(app, booking["id"])
    assert repaired is not None and repaired.seats_released_at is not None


async def test_a_booking_stored_just_before_its_sql_transaction_failed_holds_nothing(
    client: httpx.AsyncClient, app: FastAPI, agent: TestUser, passenger: TestUser
) -> None:
    flight = await future_flight(client, agent.headers)
    data = BookingCreate.model_validate(booking_body([flight["id"]], passengers=3))
    async with app.state.sessionmaker() as session:
        principal = Principal(passenger.id, "passenger")
        created = await holds.create_booking(session, principal, data, hold_minutes=15)
        await session.rollback()  # the seats' hold never committed
    assert await seats_available(client, flight["id"]) == 150

    clock.advance(PAST_THE_HOLD)
    sessionmaker, settings = app.state.sessionmaker, app.state.settings
    assert await release_expired_holds(sessionmaker, settings) == 1
    clock.advance(PAST_THE_REPAIR_GRACE)
    assert await repair_unreleased_seats(sessionmaker, settings) == 1

    stored = await stored_booking(app, created.id)
    assert stored is not None and stored.status == "expired"
    assert await seats_available(client, flight["id"]) == 150
