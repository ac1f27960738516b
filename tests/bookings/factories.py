"""Test data for bookings: flights departing relative to now, request bodies, bookings made
through the API, many signed-in users at once, and reads of what was stored."""

from __future__ import annotations

import asyncio
import os
from datetime import UTC, timedelta
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import Row, select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from flightdeck.bookings import service
from flightdeck.bookings.records import BookingRecord
from flightdeck.platform.clock import utcnow
from flightdeck.platform.events.outbox import OutboxEvent
from flightdeck.platform.security.passwords import hash_password
from flightdeck.platform.security.tokens import issue_access_token
from flightdeck.users.models import User
from tests.conftest import TEST_PASSWORD
from tests.flights.factories import create_flight, money


async def future_flight(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    *,
    departs_in: timedelta = timedelta(days=3),
    duration: timedelta = timedelta(hours=7),
    economy_seats: int = 150,
    economy_fare: int = 45000,
    **overrides: Any,
) -> dict[str, Any]:
    """A JFK → LHR flight (B789: economy rows 6 onwards, A to K) leaving `departs_in` from now."""
    departure = (utcnow() + departs_in).replace(second=0, microsecond=0)
    body: dict[str, Any] = {
        "departure_time": departure.isoformat(),
        "arrival_time": (departure + duration).isoformat(),
        "cabins": {
            "economy": {"seats": economy_seats, "fare": money(economy_fare)},
            "business": {"seats": 20, "fare": money(250000)},
        },
    }
    body.update(overrides)
    return await create_flight(client, headers, **body)


async def connecting_flights(
    client: httpx.AsyncClient, headers: dict[str, str]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """JFK → LHR, then LHR → CDG two hours after it lands."""
    first = await future_flight(client, headers)
    second = await future_flight(
        client,
        headers,
        flight_number="FD202",
        origin="LHR",
        destination="CDG",
        departs_in=timedelta(days=3, hours=9),
        duration=timedelta(hours=1, minutes=15),
        economy_fare=12000,
    )
    return first, second


def traveller(index: int = 0, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "first_name": f"Grace{index}",
        "last_name": "Hopper",
        "date_of_birth": "1986-12-09",
        "passport_number": f"P{index:04d}98765",
    }
    body.update(overrides)
    return body


def booking_body(
    flight_ids: list[str], passengers: int | list[dict[str, Any]] = 1, **overrides: Any
) -> dict[str, Any]:
    """A `POST /bookings` body: `passengers` is a count of generated travellers or the list."""
    body: dict[str, Any] = {
        "segments": flight_ids,
        "cabin": "economy",
        "passengers": (
            [traveller(i) for i in range(passengers)] if isinstance(passengers, int) else passengers
        ),
    }
    body.update(overrides)
    return body


async def book(
    client: httpx.AsyncClient, headers: dict[str, str], body: dict[str, Any]
) -> dict[str, Any]:
    """Creates a booking through the API and returns its JSON."""
    response = await client.post("/bookings", json=body, headers=headers)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def seats_available(client: httpx.AsyncClient, flight_id: str, cabin: str = "economy") -> int:
    response = await client.get(f"/flights/{flight_id}")
    assert response.status_code == 200, response.text
    available: int = response.json()["seats_available"][cabin]
    return available


async def many_users(app: FastAPI, count: int) -> list[dict[str, str]]:
    """`count` passengers stored at once (one password hash shared) → their bearer headers."""
    password_hash = await asyncio.to_thread(hash_password, TEST_PASSWORD)
    users = [
        User(
            email=f"racer-{os.urandom(4).hex()}-{i}@example.com",
            password_hash=password_hash,
            full_name=f"Racer {i}",
            role="passenger",
        )
        for i in range(count)
    ]
    maker: async_sessionmaker[AsyncSession] = app.state.sessionmaker
    async with maker() as session:
        session.add_all(users)
        await session.commit()
    settings = app.state.settings
    return [
        {"Authorization": f"Bearer {issue_access_token(settings, user.id, 'passenger')[0]}"}
        for user in users
    ]


async def confirm(app: FastAPI, booking_id: str, payment_id: str = "pay_test") -> BookingRecord:
    """Confirms a booking as the payments domain will (service call, own transaction)."""
    maker: async_sessionmaker[AsyncSession] = app.state.sessionmaker
    async with maker() as session, session.begin():
        return await service.confirm_booking(session, booking_id, payment_id)


async def booking_events(db: AsyncSession, booking_id: str) -> list[OutboxEvent]:
    """The booking's outbox rows, oldest first."""
    try:
        db.expire_all()
        result = await db.scalars(
            select(OutboxEvent)
            .where(OutboxEvent.aggregate_id == booking_id)
            .order_by(OutboxEvent.created_at)
        )
        events = list(result)
        db.expunge_all()  # detached: still readable after the transaction ends
        return events
    finally:
        await db.rollback()


async def fetch_rows(db: AsyncSession, sql: str, **params: Any) -> list[Row[Any]]:
    """Raw rows, then the transaction ends (an open one would block SQLite writers)."""
    try:
        return list((await db.execute(text(sql), params)).all())
    finally:
        await db.rollback()


def hours_before_departure(segment: dict[str, Any], hours: float) -> timedelta:
    """How far to move the clock so that it is `hours` before the segment departs."""
    from datetime import datetime

    departure = datetime.fromisoformat(segment["departure_time"]).astimezone(UTC)
    return departure - timedelta(hours=hours) - utcnow()
