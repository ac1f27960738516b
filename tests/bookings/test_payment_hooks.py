"""What the payments domain calls: get_booking_for_payment and confirm_booking."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from flightdeck.bookings import service
from flightdeck.bookings.errors import BookingNotFound, BookingNotPayable, HoldExpired
from flightdeck.bookings.records import BookingRecord
from flightdeck.platform.clock import clock
from flightdeck.platform.money import Money
from tests.bookings.factories import book, booking_body, booking_events, confirm, future_flight
from tests.conftest import TestUser

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def booking_for_payment(app: FastAPI, booking_id: str, user_id: str) -> BookingRecord:
    maker: async_sessionmaker[AsyncSession] = app.state.sessionmaker
    async with maker() as session, session.begin():
        return await service.get_booking_for_payment(session, booking_id, user_id)


async def test_the_owner_gets_the_booking_and_amount_to_pay(
    client: httpx.AsyncClient, app: FastAPI, agent: TestUser, passenger: TestUser
) -> None:
    flight = await future_flight(client, agent.headers)
    booking = await book(client, passenger.headers, booking_body([flight["id"]], passengers=2))
    record = await booking_for_payment(app, booking["id"], passenger.id)
    assert record.total_price == Money(amount=90000, currency="USD")
    assert record.status == "pending_payment"
    with pytest.raises(BookingNotFound):
        await booking_for_payment(app, booking["id"], agent.id)
    with pytest.raises(BookingNotFound):
        await booking_for_payment(app, "missing", passenger.id)


async def test_confirming_marks_the_booking_paid_once(
    client: httpx.AsyncClient, app: FastAPI, agent: TestUser, passenger: TestUser, db: AsyncSession
) -> None:
    flight = await future_flight(client, agent.headers)
    booking = await book(client, passenger.headers, booking_body([flight["id"]]))
    confirmed = await confirm(app, booking["id"], "pay_1")
    assert confirmed.status == "confirmed"
    assert confirmed.payment_id == "pay_1"
    again = await confirm(app, booking["id"], "pay_1")  # a repeated webhook changes nothing
    assert again.confirmed_at == confirmed.confirmed_at
    with pytest.raises(BookingNotPayable):
        await confirm(app, booking["id"], "pay_2")
    with pytest.raises(BookingNotPayable):
        await booking_for_payment(app, booking["id"], passenger.id)
    shown = (await client.get(f"/bookings/{booking['id']}", headers=passenger.headers)).json()
    assert shown["status"] == "confirmed"
    events = await booking_events(db, booking["id"])
    assert [e.event_type for e in events] == ["booking.created", "booking.confirmed"]
    assert events[1].payload["payment_id"] == "pay_1"


async def test_an_expired_hold_cannot_be_paid(
    client: httpx.AsyncClient, app: FastAPI, agent: TestUser, passenger: TestUser
) -> None:
    flight = await future_flight(client, agent.headers)
    booking = await book(client, passenger.headers, booking_body([flight["id"]]))
    clock.advance(timedelta(minutes=16))
    with pytest.raises(HoldExpired):
        await booking_for_payment(app, booking["id"], passenger.id)


async def test_a_cancelled_booking_cannot_be_confirmed(
    client: httpx.AsyncClient, app: FastAPI, agent: TestUser, passenger: TestUser
) -> None:
    flight = await future_flight(client, agent.headers)
    booking = await book(client, passenger.headers, booking_body([flight["id"]]))
    await client.delete(f"/bookings/{booking['id']}", headers=passenger.headers)
    with pytest.raises(BookingNotPayable):
        await confirm(app, booking["id"])
    with pytest.raises(BookingNotFound):
        await confirm(app, "missing")
