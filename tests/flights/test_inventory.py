"""Seat inventory: holding and releasing seats for bookings (`flights.inventory_service`).

Each helper runs in its own session and commits or rolls back, as a request would.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from tests.conftest import TestUser as AppUser
from tests.flights.factories import create_flight, money, sell_seats

from flightdeck.flights.errors import (
    CabinNotOffered,
    DuplicateSeat,
    DuplicateSegment,
    FlightNotBookable,
    InvalidSeat,
    InventoryAlreadyHeld,
    SeatsUnavailable,
    SeatUnavailable,
    UnknownFlight,
)
from flightdeck.flights.inventory.service import (
    HeldSegment,
    SegmentRequest,
    bookings_holding_inventory,
    hold_inventory,
    release_inventory,
)
from flightdeck.flights.models import FlightCabin
from flightdeck.platform.clock import clock, utcnow
from flightdeck.platform.errors import AppError
from flightdeck.platform.money import Money

pytestmark = pytest.mark.asyncio(loop_scope="session")


def _maker(app: FastAPI) -> async_sessionmaker[AsyncSession]:
    maker: async_sessionmaker[AsyncSession] = app.state.sessionmaker
    return maker


async def hold(
    app: FastAPI,
    *segments: tuple[str, list[str | None]],
    booking_id: str | None = None,
    cabin: str = "economy",
) -> list[HeldSegment]:
    """Holds in a session of its own: commits on success, rolls back and re-raises on error."""
    async with _maker(app)() as session:
        try:
            held = await hold_inventory(
                session,
                booking_id=booking_id or str(uuid.uuid4()),
                cabin=cabin,
                segments=[SegmentRequest(flight_id, seats) for flight_id, seats in segments],
            )
            await session.commit()
        except BaseException:
            await session.rollback()
            raise
    return held


async def release(
    app: FastAPI, booking_id: str, counts: dict[str, int], cabin: str = "economy"
) -> None:
    async with _maker(app)() as session:
        await release_inventory(
            session, booking_id=booking_id, cabin=cabin, flight_seat_counts=counts
        )
        await session.commit()


async def sold(app: FastAPI, flight_id: str, cabin: str = "economy") -> int:
    async with _maker(app)() as session:
        value = await session.scalar(
            select(FlightCabin.sold).where(
                FlightCabin.flight_id == flight_id, FlightCabin.cabin == cabin
            )
        )
    assert value is not None
    return value


async def taken_seats(client: httpx.AsyncClient, flight_id: str) -> set[str]:
    response = await client.get(f"/flights/{flight_id}/seats")
    assert response.status_code == 200, response.text
    return {
        seat["seat"]
        for cabin in response.json()["cabins"]
        for row in cabin["rows"]
        for seat in row["seats"]
        if not seat["available"]
    }


async def small_flight(
    client: httpx.AsyncClient, agent: AppUser, seats: int = 66, **overrides: Any
) -> str:
    flight = await create_flight(
        client,
        agent.headers,
        aircraft="320",
        cabins={
            "business": {"seats": 8, "fare": money(120000)},  # rows 1-2
            "economy": {"seats": seats, "fare": money(9900)},  # 66 seats: rows 3-12 and 14
        },
        **overrides,
    )
    return str(flight["id"])


def assert_app_error(error: AppError, status: int, code: str) -> None:
    assert (error.status_code, error.code) == (status, code)


# --- hold and release --------------------------------------------------------------------


async def test_hold_sells_the_seats_and_takes_the_chosen_ones(
    app: FastAPI, client: httpx.AsyncClient, agent: AppUser
) -> None:
    flight_id = await small_flight(client, agent)

    (segment,) = await hold(app, (flight_id, ["12a", None, "3C"]))

    assert segment.flight_id == flight_id
    assert segment.flight_number == "FD101"
    assert (segment.origin, segment.destination) == ("JFK", "LHR")
    assert segment.departure_at.utcoffset() == timedelta(0)
    assert segment.cabin == "economy"
    assert segment.seats == ["12A", None, "3C"]
    assert segment.fare == Money(amount=9900, currency="USD")
    assert await sold(app, flight_id) == 3
    assert await taken_seats(client, flight_id) == {"12A", "3C"}
    seat_map = (await client.get(f"/flights/{flight_id}/seats")).json()
    assert seat_map["cabins"][1]["seats_available"] == 63


async def test_release_gives_the_seats_back(
    app: FastAPI, client: httpx.AsyncClient, agent: AppUser
) -> None:
    flight_id = await small_flight(client, agent)
    await hold(app, (flight_id, ["4A"]), booking_id="other-booking")
    await hold(app, (flight_id, ["12A", None]), booking_id="booking-1")

    await release(app, "booking-1", {flight_id: 2})

    assert await sold(app, flight_id) == 1
    assert await taken_seats(client, flight_id) == {"4A"}
    await hold(app, (flight_id, ["12A"]))  # free again
    assert await sold(app, flight_id) == 2


async def test_releasing_twice_gives_the_seats_back_once(
    app: FastAPI, client: httpx.AsyncClient, agent: AppUser
) -> None:
    flight_id = await small_flight(client, agent)
    await hold(app, (flight_id, [None, None, None]), booking_id="stays")
    await hold(app, (flight_id, ["5A", "5B"]), booking_id="leaves")

    await release(app, "leaves", {flight_id: 2})
    await release(app, "leaves", {flight_id: 2})

    assert await sold(app, flight_id) == 3


async def test_two_concurrent_releases_of_one_booking_give_the_seats_back_once(
    app: FastAPI, client: httpx.AsyncClient, agent: AppUser
) -> None:
    flight_id = await small_flight(client, agent)
    await hold(app, (flight_id, [None, None]), booking_id="stays")
    await hold(app, (flight_id, ["5A", None, None]), booking_id="leaves")

    await asyncio.gather(*(release(app, "leaves", {flight_id: 3}) for _ in range(4)))

    assert await sold(app, flight_id) == 2
    assert await taken_seats(client, flight_id) == set()


async def test_release_of_a_booking_that_holds_nothing_changes_nothing(
    app: FastAPI, client: httpx.AsyncClient, agent: AppUser
) -> None:
    flight_id = await small_flight(client, agent)
    await hold(app, (flight_id, ["6A"]), booking_id="holds")

    await release(app, "never-held", {flight_id: 5})

    assert await sold(app, flight_id) == 1
    assert await taken_seats(client, flight_id) == {"6A"}


async def test_one_booking_cannot_hold_the_same_flight_twice(
    app: FastAPI, client: httpx.AsyncClient, agent: AppUser
) -> None:
    flight_id = await small_flight(client, agent)
    await hold(app, (flight_id, [None]), booking_id="b1")

    with pytest.raises(InventoryAlreadyHeld) as error:
        await hold(app, (flight_id, [None]), booking_id="b1")

    assert_app_error(error.value, 409, "inventory_already_held")
    assert await sold(app, flight_id) == 1


async def test_old_holds_are_listed_for_the_sweeper(
    app: FastAPI, client: httpx.AsyncClient, agent: AppUser
) -> None:
    flight_id = await small_flight(client, agent)
    await hold(app, (flight_id, [None]), booking_id="old")
    clock.advance(timedelta(minutes=30))
    await hold(app, (flight_id, [None]), booking_id="new")

    async with _maker(app)() as session:
        old = await bookings_holding_inventory(
            session, held_before=utcnow() - timedelta(minutes=15)
        )
        everything = await bookings_holding_inventory(session, held_before=utcnow(), limit=10)

    assert old == ["old"]
    assert everything == ["old", "new"]


# --- refusals ----------------------------------------------------------------------------


async def test_unknown_flight_is_refused(app: FastAPI, client: httpx.AsyncClient) -> None:
    with pytest.raises(UnknownFlight) as error:
        await hold(app, ("no-such-flight", [None]))

    assert_app_error(error.value, 422, "unknown_flight")
    assert error.value.details == {"flight_id": "no-such-flight"}


async def test_cabin_the_flight_does_not_offer_is_refused(
    app: FastAPI, client: httpx.AsyncClient, agent: AppUser
) -> None:
    flight_id = await small_flight(client, agent)

    with pytest.raises(CabinNotOffered) as error:
        await hold(app, (flight_id, [None]), cabin="first")

    assert_app_error(error.value, 422, "cabin_not_offered")


@pytest.mark.parametrize("seat", ["1A", "13A", "12G", "15A", "A12", ""])
async def test_seat_not_in_the_cabin_layout_is_refused(
    app: FastAPI, client: httpx.AsyncClient, agent: AppUser, seat: str
) -> None:
    flight_id = await small_flight(client, agent)  # 1A is business; economy ends at row 14

    with pytest.raises(InvalidSeat) as error:
        await hold(app, (flight_id, [None, seat]))

    assert_app_error(error.value, 422, "invalid_seat")
    assert await sold(app, flight_id) == 0


async def test_same_seat_twice_in_one_request_is_refused(
    app: FastAPI, client: httpx.AsyncClient, agent: AppUser
) -> None:
    flight_id = await small_flight(client, agent)

    with pytest.raises(DuplicateSeat) as error:
        await hold(app, (flight_id, ["12A", "12a"]))

    assert_app_error(error.value, 422, "duplicate_seat")
    assert error.value.details == {"flight_id": flight_id, "seat": "12A"}


async def test_same_flight_twice_in_one_request_is_refused(
    app: FastAPI, client: httpx.AsyncClient, agent: AppUser
) -> None:
    flight_id = await small_flight(client, agent)

    with pytest.raises(DuplicateSegment) as error:
        await hold(app, (flight_id, [None]), (flight_id, [None]))

    assert_app_error(error.value, 422, "duplicate_segment")
    assert await sold(app, flight_id) == 0


async def test_request_without_passengers_or_flights_is_refused(
    app: FastAPI, client: httpx.AsyncClient, agent: AppUser
) -> None:
    flight_id = await small_flight(client, agent)

    no_passengers: list[str | None] = []
    requests: list[list[tuple[str, list[str | None]]]] = [[], [(flight_id, no_passengers)]]
    for segments in requests:
        with pytest.raises(AppError) as error:
            await hold(app, *segments)
        assert_app_error(error.value, 422, "validation_error")


async def test_cancelled_flight_is_not_bookable(
    app: FastAPI, client: httpx.AsyncClient, agent: AppUser
) -> None:
    flight_id = await small_flight(client, agent)
    response = await client.put(
        f"/flights/{flight_id}/status", json={"status": "cancelled"}, headers=agent.headers
    )
    assert response.status_code == 200, response.text

    with pytest.raises(FlightNotBookable) as error:
        await hold(app, (flight_id, [None]))

    assert_app_error(error.value, 409, "flight_not_bookable")
    assert error.value.details["status"] == "cancelled"


async def test_flight_departed_in_the_past_is_not_bookable(
    app: FastAPI, client: httpx.AsyncClient, agent: AppUser
) -> None:
    flight_id = await small_flight(client, agent)
    clock.advance(timedelta(days=400))

    with pytest.raises(FlightNotBookable) as error:
        await hold(app, (flight_id, [None]))

    assert_app_error(error.value, 409, "flight_not_bookable")
    assert await sold(app, flight_id) == 0


async def test_not_enough_seats_left_is_refused_with_what_is_left(
    app: FastAPI, client: httpx.AsyncClient, agent: AppUser, db: AsyncSession
) -> None:
    flight_id = await small_flight(client, agent, seats=9)
    await sell_seats(db, flight_id, "economy", 7)

    with pytest.raises(SeatsUnavailable) as error:
        await hold(app, (flight_id, [None, None, None]))

    assert_app_error(error.value, 409, "seats_unavailable")
    assert error.value.details == {
        "flight_id": flight_id,
        "flight_number": "FD101",
        "requested": 3,
        "available": 2,
    }
    assert await sold(app, flight_id) == 7


async def test_a_taken_seat_is_refused_and_nothing_is_held(
    app: FastAPI, client: httpx.AsyncClient, agent: AppUser
) -> None:
    flight_id = await small_flight(client, agent)
    await hold(app, (flight_id, ["12A"]))

    with pytest.raises(SeatUnavailable) as error:
        await hold(app, (flight_id, ["12B", "12A"]))

    assert_app_error(error.value, 409, "seat_unavailable")
    assert error.value.message == "Seat 12A on FD101 is taken"
    assert error.value.details == {"flight_id": flight_id, "seat": "12A"}
    assert await sold(app, flight_id) == 1
    assert await taken_seats(client, flight_id) == {"12A"}


async def test_hold_is_all_or_nothing_across_segments(
    app: FastAPI, client: httpx.AsyncClient, agent: AppUser, db: AsyncSession
) -> None:
    first = await small_flight(client, agent)
    second = await small_flight(client, agent, flight_number="FD102")
    # Segments are held in flight-id order: fill the one held last, so the other was held
    # (and must be rolled back) by the time the full one refuses.
    held_first, held_last = sorted([first, second])
    await sell_seats(db, held_last, "economy", 66)

    with pytest.raises(SeatsUnavailable) as error:
        await hold(app, (first, ["12A", None]), (second, [None, None]))

    assert error.value.details["flight_id"] == held_last
    assert await sold(app, held_first) == 0
    assert await sold(app, held_last) == 66
    assert await taken_seats(client, first) == set()


async def test_hold_across_two_segments_returns_them_in_request_order(
    app: FastAPI, client: httpx.AsyncClient, agent: AppUser
) -> None:
    first = await small_flight(client, agent)
    second = await small_flight(client, agent, flight_number="FD102")

    held = await hold(app, (second, ["14A"]), (first, [None]))

    assert [segment.flight_id for segment in held] == [second, first]
    assert [segment.flight_number for segment in held] == ["FD102", "FD101"]
    assert await sold(app, first) == await sold(app, second) == 1


# --- races (each contender in its own session, committing) --------------------------------


async def _race(app: FastAPI, flight_id: str, seats: list[list[str | None]]) -> Counter[str]:
    async def contender(chosen: list[str | None]) -> str:
        try:
            await hold(app, (flight_id, chosen))
        except (SeatsUnavailable, SeatUnavailable) as error:
            return error.code
        return "held"

    return Counter(await asyncio.gather(*(contender(chosen) for chosen in seats)))


async def test_fifty_bookings_racing_for_the_last_five_seats_five_win(
    app: FastAPI, client: httpx.AsyncClient, agent: AppUser, db: AsyncSession
) -> None:
    flight_id = await small_flight(client, agent, seats=30)
    await sell_seats(db, flight_id, "economy", 25)

    outcomes = await _race(app, flight_id, [[None]] * 50)

    assert outcomes == {"held": 5, "seats_unavailable": 45}
    assert await sold(app, flight_id) == 30


async def test_twenty_bookings_racing_for_seat_12a_one_wins(
    app: FastAPI, client: httpx.AsyncClient, agent: AppUser
) -> None:
    flight_id = await small_flight(client, agent)

    outcomes = await _race(app, flight_id, [["12A"]] * 20)

    assert outcomes == {"held": 1, "seat_unavailable": 19}
    assert await sold(app, flight_id) == 1
    assert await taken_seats(client, flight_id) == {"12A"}
