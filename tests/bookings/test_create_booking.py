"""POST /bookings: seats held on every segment in one transaction, a PNR, a hold, the total."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from tests.bookings.factories import (
    book,
    booking_body,
    booking_events,
    connecting_flights,
    future_flight,
    seats_available,
    traveller,
)
from tests.conftest import TestUser, assert_error
from tests.flights.factories import money

pytestmark = pytest.mark.asyncio(loop_scope="session")

PNR = re.compile(r"^[ABCDEFGHJKMNPQRSTUVWXYZ23456789]{6}$")


async def test_one_segment_booking_holds_seats_and_waits_for_payment(
    client: httpx.AsyncClient, agent: TestUser, passenger: TestUser, db: AsyncSession
) -> None:
    flight = await future_flight(client, agent.headers)
    response = await client.post(
        "/bookings", json=booking_body([flight["id"]], passengers=2), headers=passenger.headers
    )
    assert response.status_code == 201, response.text
    booking = response.json()
    assert booking["status"] == "pending_payment"
    assert PNR.match(booking["pnr"])
    assert booking["user_id"] == passenger.id
    assert booking["total_price"] == money(2 * 45000)
    created = datetime.fromisoformat(booking["created_at"])
    assert datetime.fromisoformat(booking["hold_expires_at"]) - created == timedelta(minutes=15)
    [segment] = booking["segments"]
    assert segment["flight_id"] == flight["id"]
    assert segment["flight_number"] == "FD101"
    assert segment["departure_time"] == flight["departure_time"]
    assert segment["fare"] == money(45000)
    assert segment["seats"] == [None, None]
    assert [p["first_name"] for p in booking["passengers"]] == ["Grace0", "Grace1"]
    assert booking["passengers"][0]["passport_number"] == "P000098765"
    assert await seats_available(client, flight["id"]) == 148
    [event] = await booking_events(db, booking["id"])
    assert event.event_type == "booking.created"
    assert event.payload["pnr"] == booking["pnr"]
    assert event.payload["flight_ids"] == [flight["id"]]
    assert event.payload["total"] == money(90000)


async def test_two_segment_booking_holds_both_flights_and_sums_the_fares(
    client: httpx.AsyncClient, agent: TestUser, passenger: TestUser
) -> None:
    first, second = await connecting_flights(client, agent.headers)
    booking = await book(
        client, passenger.headers, booking_body([first["id"], second["id"]], passengers=3)
    )
    assert [s["flight_id"] for s in booking["segments"]] == [first["id"], second["id"]]
    assert booking["total_price"] == money(3 * (45000 + 12000))
    assert await seats_available(client, first["id"]) == 147
    assert await seats_available(client, second["id"]) == 147


async def test_chosen_seats_are_held_per_segment(
    client: httpx.AsyncClient, agent: TestUser, passenger: TestUser
) -> None:
    first, second = await connecting_flights(client, agent.headers)
    body = booking_body(
        [first["id"], second["id"]],
        passengers=[traveller(0, seat="12a"), traveller(1, seats=["12B", "14C"])],
    )
    booking = await book(client, passenger.headers, body)
    assert [s["seats"] for s in booking["segments"]] == [["12A", "12B"], [None, "14C"]]
    assert booking["passengers"][0]["seat"] == "12A"
    assert booking["passengers"][1]["seats"] == ["12B", "14C"]
    seat_map = (await client.get(f"/flights/{first['id']}/seats")).json()
    taken = {
        seat["seat"]
        for cabin in seat_map["cabins"]
        for row in cabin["rows"]
        for seat in row["seats"]
        if not seat["available"]
    }
    assert taken == {"12A", "12B"}


async def test_the_callers_bookings_are_listed_newest_first_page_by_page(
    client: httpx.AsyncClient, agent: TestUser, passenger: TestUser
) -> None:
    flight = await future_flight(client, agent.headers)
    made = [await book(client, passenger.headers, booking_body([flight["id"]])) for _ in range(3)]
    await book(client, agent.headers, booking_body([flight["id"]]))
    first = await client.get("/bookings?limit=2", headers=passenger.headers)
    assert first.status_code == 200, first.text
    page = first.json()
    assert [b["id"] for b in page["items"]] == [made[2]["id"], made[1]["id"]]
    second = await client.get(
        f"/bookings?limit=2&cursor={page['next_cursor']}", headers=passenger.headers
    )
    assert [b["id"] for b in second.json()["items"]] == [made[0]["id"]]
    assert second.json()["next_cursor"] is None


async def test_without_a_token_booking_is_401(client: httpx.AsyncClient, agent: TestUser) -> None:
    flight = await future_flight(client, agent.headers)
    response = await client.post("/bookings", json=booking_body([flight["id"]]))
    assert_error(response, 401, "not_authenticated")
    assert_error(await client.get("/bookings"), 401, "not_authenticated")


async def test_unknown_flight_is_422(client: httpx.AsyncClient, passenger: TestUser) -> None:
    response = await client.post(
        "/bookings", json=booking_body(["no-such-flight"]), headers=passenger.headers
    )
    assert_error(response, 422, "unknown_flight")


async def test_zero_passengers_is_422(
    client: httpx.AsyncClient, agent: TestUser, passenger: TestUser
) -> None:
    flight = await future_flight(client, agent.headers)
    response = await client.post(
        "/bookings", json=booking_body([flight["id"]], passengers=0), headers=passenger.headers
    )
    assert_error(response, 422, "validation_error")


async def test_more_passengers_than_seats_left_is_409_and_holds_nothing(
    client: httpx.AsyncClient, agent: TestUser, passenger: TestUser
) -> None:
    flight = await future_flight(client, agent.headers, economy_seats=8)
    response = await client.post(
        "/bookings", json=booking_body([flight["id"]], passengers=9), headers=passenger.headers
    )
    assert_error(response, 409, "seats_unavailable")
    assert await seats_available(client, flight["id"]) == 8


async def test_ten_passengers_for_nine_seats_is_a_4xx(
    client: httpx.AsyncClient, agent: TestUser, passenger: TestUser
) -> None:
    # One booking holds at most nine passengers, so ten are refused before any seat counts.
    flight = await future_flight(client, agent.headers, economy_seats=9)
    response = await client.post(
        "/bookings", json=booking_body([flight["id"]], passengers=10), headers=passenger.headers
    )
    assert_error(response, 422, "validation_error")
    assert await seats_available(client, flight["id"]) == 9


async def test_the_same_seat_twice_in_one_request_is_422(
    client: httpx.AsyncClient, agent: TestUser, passenger: TestUser
) -> None:
    flight = await future_flight(client, agent.headers)
    body = booking_body(
        [flight["id"]], passengers=[traveller(0, seat="12A"), traveller(1, seat="12A")]
    )
    response = await client.post("/bookings", json=body, headers=passenger.headers)
    assert_error(response, 422, "duplicate_seat")
    assert await seats_available(client, flight["id"]) == 150


async def test_segments_that_do_not_connect_are_422_and_hold_nothing(
    client: httpx.AsyncClient, agent: TestUser, passenger: TestUser
) -> None:
    first, second = await connecting_flights(client, agent.headers)
    response = await client.post(
        "/bookings", json=booking_body([second["id"], first["id"]]), headers=passenger.headers
    )
    assert_error(response, 422, "segments_not_consecutive")
    assert await seats_available(client, first["id"]) == 150
    assert await seats_available(client, second["id"]) == 150


async def test_a_connection_leaving_before_the_first_flight_lands_is_422(
    client: httpx.AsyncClient, agent: TestUser, passenger: TestUser
) -> None:
    first = await future_flight(client, agent.headers)
    too_early = await future_flight(
        client,
        agent.headers,
        flight_number="FD202",
        origin="LHR",
        destination="CDG",
        departs_in=timedelta(days=3, hours=6),
        duration=timedelta(hours=1),
    )
    response = await client.post(
        "/bookings", json=booking_body([first["id"], too_early["id"]]), headers=passenger.headers
    )
    assert_error(response, 422, "segments_not_consecutive")


async def test_segments_priced_in_different_currencies_are_422(
    client: httpx.AsyncClient, agent: TestUser, passenger: TestUser
) -> None:
    first = await future_flight(client, agent.headers)
    second = await future_flight(
        client,
        agent.headers,
        flight_number="FD202",
        origin="LHR",
        destination="CDG",
        departs_in=timedelta(days=3, hours=9),
        duration=timedelta(hours=1),
        cabins={"economy": {"seats": 100, "fare": money(9000, "EUR")}},
    )
    response = await client.post(
        "/bookings", json=booking_body([first["id"], second["id"]]), headers=passenger.headers
    )
    assert_error(response, 422, "mixed_currencies")
    assert await seats_available(client, first["id"]) == 150


@pytest.mark.parametrize(
    "change",
    [
        {"segments": []},
        {"segments": ["a", "b", "c", "d", "e"]},
        {"cabin": "steerage"},
        {"passengers": [traveller(0, date_of_birth="2999-01-01")]},
        {"passengers": [traveller(0, seat="twelve")]},
        {"passengers": [traveller(0, seats=["12A", "12B"])]},
        {"passengers": [traveller(0, passport_number="no spaces allowed")]},
    ],
)
async def test_malformed_booking_requests_are_422(
    client: httpx.AsyncClient, agent: TestUser, passenger: TestUser, change: dict[str, object]
) -> None:
    flight = await future_flight(client, agent.headers)
    body = {**booking_body([flight["id"]]), **change}
    response = await client.post("/bookings", json=body, headers=passenger.headers)
    assert_error(response, 422, "validation_error")
    assert await seats_available(client, flight["id"]) == 150


async def test_a_pnr_collision_is_retried_with_a_new_pnr(
    client: httpx.AsyncClient,
    agent: TestUser,
    passenger: TestUser,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    flight = await future_flight(client, agent.headers)
    drawn = iter(["ABC234", "ABC234", "XYZ789"])
    monkeypatch.setattr("flightdeck.bookings.holds.generate_pnr", lambda: next(drawn))
    first = await book(client, passenger.headers, booking_body([flight["id"]]))
    second = await book(client, passenger.headers, booking_body([flight["id"]]))
    assert (first["pnr"], second["pnr"]) == ("ABC234", "XYZ789")
    assert await seats_available(client, flight["id"]) == 148
