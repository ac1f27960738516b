"""Holds run out: the sweeper expires them and gives the seats back; late payment is refused."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from flightdeck.app import create_app
from flightdeck.bookings.errors import HoldExpired
from flightdeck.bookings.sweeper import release_expired_holds
from flightdeck.platform.clock import clock
from tests.bookings.factories import (
    book,
    booking_body,
    booking_events,
    confirm,
    connecting_flights,
    fetch_rows,
    future_flight,
    seats_available,
    traveller,
)
from tests.bookings.stores import stored_status
from tests.conftest import TestUser

pytestmark = pytest.mark.asyncio(loop_scope="session")

PAST_THE_HOLD = timedelta(minutes=15, seconds=1)


async def sweep(app: FastAPI) -> int:
    """One run of the sweeper with the app's store, as the server runs it."""
    return await release_expired_holds(app.state.sessionmaker, app.state.settings)


async def test_the_sweeper_expires_a_run_out_hold_and_releases_its_seats(
    client: httpx.AsyncClient,
    app: FastAPI,
    agent: TestUser,
    passenger: TestUser,
    db: AsyncSession,
) -> None:
    first, second = await connecting_flights(client, agent.headers)
    body = booking_body([first["id"], second["id"]], passengers=[traveller(0, seat="12A")])
    booking = await book(client, passenger.headers, body)
    assert await sweep(app) == 0  # not yet

    clock.advance(PAST_THE_HOLD)
    assert await sweep(app) == 1

    assert await stored_status(app, booking["id"]) == "expired"
    assert await seats_available(client, first["id"]) == 150
    assert await seats_available(client, second["id"]) == 150
    assert await fetch_rows(db, "SELECT seat FROM seat_assignments") == []
    events = await booking_events(db, booking["id"])
    assert [e.event_type for e in events] == ["booking.created", "booking.expired"]
    assert events[1].payload["flight_ids"] == [first["id"], second["id"]]
    assert await sweep(app) == 0


async def test_a_booking_within_its_hold_is_left_alone(
    client: httpx.AsyncClient,
    app: FastAPI,
    agent: TestUser,
    passenger: TestUser,
    db: AsyncSession,
) -> None:
    flight = await future_flight(client, agent.headers)
    old = await book(client, passenger.headers, booking_body([flight["id"]]))
    clock.advance(timedelta(minutes=10))
    recent = await book(client, passenger.headers, booking_body([flight["id"]]))
    clock.advance(timedelta(minutes=6))
    assert await sweep(app) == 1
    assert await stored_status(app, old["id"]) == "expired"
    assert await stored_status(app, recent["id"]) == "pending_payment"
    assert await seats_available(client, flight["id"]) == 149


async def test_sweepers_running_at_once_expire_each_hold_once(
    client: httpx.AsyncClient,
    app: FastAPI,
    agent: TestUser,
    passenger: TestUser,
) -> None:
    flight = await future_flight(client, agent.headers)
    for _ in range(5):
        await book(client, passenger.headers, booking_body([flight["id"]], passengers=2))
    assert await seats_available(client, flight["id"]) == 140
    clock.advance(PAST_THE_HOLD)
    counts = await asyncio.gather(*(sweep(app) for _ in range(4)))
    assert sum(counts) == 5
    assert await seats_available(client, flight["id"]) == 150


async def test_a_payment_after_the_hold_ran_out_is_refused(
    client: httpx.AsyncClient, app: FastAPI, agent: TestUser, passenger: TestUser
) -> None:
    flight = await future_flight(client, agent.headers)
    booking = await book(client, passenger.headers, booking_body([flight["id"]]))
    clock.advance(PAST_THE_HOLD)
    with pytest.raises(HoldExpired):  # before the sweeper ran
        await confirm(app, booking["id"])
    await sweep(app)
    with pytest.raises(HoldExpired):  # and after
        await confirm(app, booking["id"])


async def test_the_server_runs_the_sweeper_in_the_background(
    client: httpx.AsyncClient,
    app: FastAPI,
    agent: TestUser,
    passenger: TestUser,
    db: AsyncSession,
) -> None:
    flight = await future_flight(client, agent.headers)
    booking = await book(client, passenger.headers, booking_body([flight["id"]]))
    clock.advance(PAST_THE_HOLD)
    second_server = create_app(app.state.settings.model_copy(update={"hold_sweep_seconds": 0.05}))
    async with LifespanManager(second_server):
        for _ in range(100):
            # A store that commits apart from SQL (MongoDB) shows `expired` a moment before
            # the seats' release commits: wait for both.
            if (
                await stored_status(app, booking["id"]) == "expired"
                and await seats_available(client, flight["id"]) == 150
            ):
                break
            await asyncio.sleep(0.05)
    assert await stored_status(app, booking["id"]) == "expired"
    assert await seats_available(client, flight["id"]) == 150
