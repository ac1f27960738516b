"""Amounts, counts, dates and instants are bounded at the edge (platform/bounds.py): outside the
bounds a 422 naming the field, never a 500 from the database or from date arithmetic; inside
them, the largest values work end to end on both databases."""

from __future__ import annotations

import base64
import json
from datetime import timedelta
from typing import Any

import httpx
import pytest
from tests.bookings.factories import booking_body, future_flight, traveller
from tests.conftest import TestUser, assert_error
from tests.flights.factories import flight_payload, money

from flightdeck.platform.bounds import MAX_AMOUNT, MAX_TOTAL
from flightdeck.platform.clock import utcnow

pytestmark = pytest.mark.asyncio(loop_scope="session")

NEAR_YEAR_ONE_AND_9999 = [
    "0001-01-01T00:30:00+05:00",  # year 0 in UTC: the conversion itself overflows
    "0001-01-01T00:00:00+00:00",
    "9999-12-31T23:30:00-05:00",  # year 10000 in UTC
    "9999-12-31T23:59:59+00:00",
]
DATES_NEAR_THE_ENDS = ["0001-01-01", "9999-12-31"]


def _field(response: httpx.Response) -> str:
    error = assert_error(response, 422)
    details: dict[str, Any] = error["details"]  # type: ignore[assignment]
    return str(details["errors"][0]["field"]) if "errors" in details else str(details)


def _in(days: float, hours: float = 0) -> str:
    return (utcnow() + timedelta(days=days, hours=hours)).replace(microsecond=0).isoformat()


@pytest.mark.parametrize("amount", [MAX_AMOUNT + 1, 2**63, 10**30])
async def test_a_fare_beyond_the_maximum_is_422(
    client: httpx.AsyncClient, agent: TestUser, amount: int
) -> None:
    cabins = {"economy": {"seats": 10, "fare": money(amount)}}
    flight = flight_payload(departure_time=_in(3), arrival_time=_in(3, 7), cabins=cabins)

    response = await client.post("/flights", json=flight, headers=agent.headers)

    assert _field(response) == "body.cabins.economy.fare.amount"


async def test_the_largest_fare_times_nine_passengers_is_stored_and_paid_exactly(
    client: httpx.AsyncClient, agent: TestUser, passenger: TestUser
) -> None:
    flight = await future_flight(client, agent.headers, economy_fare=MAX_AMOUNT)
    body = booking_body([flight["id"]], passengers=[traveller(i) for i in range(9)])

    response = await client.post("/bookings", json=body, headers=passenger.headers)

    assert response.status_code == 201, response.text
    total = response.json()["total_price"]
    assert total == {"amount": 9 * MAX_AMOUNT, "currency": "USD"}
    again = await client.get(f"/bookings/{response.json()['id']}", headers=passenger.headers)
    assert again.json()["total_price"]["amount"] == 9 * MAX_AMOUNT  # beyond 32 bits, exact
    assert 9 * MAX_AMOUNT * 4 < MAX_TOTAL  # four segments of it would still fit


async def test_a_payment_amount_beyond_any_total_is_422(
    client: httpx.AsyncClient, passenger: TestUser
) -> None:
    body = {
        "booking_id": "0b7d5c2e-8f4a-4e1b-9a53-2f6d1c9e7a10",
        "method": {"type": "paypal", "payer_email": "payer@example.com"},
        "amount": money(10**30),
    }

    response = await client.post("/payments", json=body, headers=passenger.headers)

    assert _field(response) == "body.amount.amount"


async def test_an_import_fare_beyond_the_maximum_is_422(
    client: httpx.AsyncClient, agent: TestUser
) -> None:
    response = await client.post(
        "/schedules/import",
        files={"file": ("s.ssim", b"1AIRLINE\n")},
        data={"default_fare_amount": str(10**30)},
        headers=agent.headers,
    )

    assert _field(response) == "body.default_fare_amount"


@pytest.mark.parametrize("instant", NEAR_YEAR_ONE_AND_9999)
async def test_flight_instants_near_year_one_or_9999_are_422(
    client: httpx.AsyncClient, agent: TestUser, instant: str
) -> None:
    flight = flight_payload(departure_time=instant, arrival_time=_in(3))

    assert _field(await client.post("/flights", json=flight, headers=agent.headers)) == (
        "body.departure_time"
    )


@pytest.mark.parametrize("instant", NEAR_YEAR_ONE_AND_9999)
async def test_status_instants_near_year_one_or_9999_are_422(
    client: httpx.AsyncClient, agent: TestUser, instant: str
) -> None:
    flight = await future_flight(client, agent.headers)
    update = {"status": "delayed", "estimated_departure": instant}

    response = await client.put(
        f"/flights/{flight['id']}/status", json=update, headers=agent.headers
    )

    assert _field(response) == "body.estimated_departure"


@pytest.mark.parametrize("day", DATES_NEAR_THE_ENDS)
@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/flights", {"origin": "SYD"}),  # local midnight in Sydney is the day before in UTC
        ("/flights", {"origin": "HNL"}),  # and in Honolulu the day after
        ("/flights", {}),
        ("/search", {"origin": "SYD", "destination": "LAX"}),
    ],
)
async def test_query_dates_near_year_one_or_9999_are_422(
    client: httpx.AsyncClient, path: str, params: dict[str, str], day: str
) -> None:
    assert _field(await client.get(path, params={**params, "date": day})) == "query.date"


@pytest.mark.parametrize(
    ("valid_from", "valid_to"), [("0001-01-01", "0001-01-31"), ("9999-12-01", "9999-12-31")]
)
async def test_schedule_periods_near_year_one_or_9999_are_422(
    client: httpx.AsyncClient, agent: TestUser, valid_from: str, valid_to: str
) -> None:
    schedule = {
        "flight_number": "FD900",
        "origin": "SYD",
        "destination": "LAX",
        "departure_local": "00:10",
        "arrival_local": "20:00",
        "arrival_day_offset": -1,
        "days_of_week": "1234567",
        "valid_from": valid_from,
        "valid_to": valid_to,
        "cabins": {"economy": {"seats": 10, "fare": money(100)}},
    }

    response = await client.post("/schedules", json=schedule, headers=agent.headers)

    assert _field(response) == "body.valid_from"


async def test_a_birth_date_in_year_one_is_422(
    client: httpx.AsyncClient, agent: TestUser, passenger: TestUser
) -> None:
    flight = await future_flight(client, agent.headers)
    body = booking_body([flight["id"]], passengers=[traveller(date_of_birth="0001-01-01")])

    response = await client.post("/bookings", json=body, headers=passenger.headers)

    assert _field(response) == "body.passengers.0.date_of_birth"


async def test_departures_more_than_two_years_away_are_refused_within_accepted(
    client: httpx.AsyncClient, agent: TestUser
) -> None:
    decades = flight_payload(departure_time=_in(3650), arrival_time=_in(3650, 7))
    next_year = flight_payload(departure_time=_in(365), arrival_time=_in(365, 7))
    last_year = flight_payload(
        flight_number="FD102", departure_time=_in(-365), arrival_time=_in(-365, 7)
    )

    assert _field(await client.post("/flights", json=decades, headers=agent.headers)) == (
        "body.departure_time"
    )
    assert (await client.post("/flights", json=next_year, headers=agent.headers)).status_code == 201
    assert (await client.post("/flights", json=last_year, headers=agent.headers)).status_code == 201


async def test_searches_more_than_two_years_away_are_422(client: httpx.AsyncClient) -> None:
    far = (utcnow() + timedelta(days=3 * 365)).date().isoformat()
    params = {"origin": "JFK", "destination": "LAX", "date": far}

    assert _field(await client.get("/search", params=params)) == "query.date"


async def test_a_block_time_longer_than_any_airliner_flies_is_422(
    client: httpx.AsyncClient, agent: TestUser
) -> None:
    fifteen_million_minutes = flight_payload(departure_time=_in(3), arrival_time=_in(700))
    twenty_three_hours = flight_payload(departure_time=_in(3), arrival_time=_in(3, 23))
    twenty_one_hours = flight_payload(departure_time=_in(3), arrival_time=_in(3, 21))

    for too_long in (fifteen_million_minutes, twenty_three_hours):
        response = await client.post("/flights", json=too_long, headers=agent.headers)
        assert "longer than any airliner flies" in str(assert_error(response, 422)["message"])
    ok = await client.post("/flights", json=twenty_one_hours, headers=agent.headers)
    assert ok.status_code == 201, ok.text
    moved = await client.put(
        f"/flights/{ok.json()['id']}", json={"arrival_time": _in(5)}, headers=agent.headers
    )
    assert_error(moved, 422, "validation_error")


async def test_a_schedule_whose_legs_would_last_days_is_422(
    client: httpx.AsyncClient, agent: TestUser
) -> None:
    start = (utcnow() + timedelta(days=10)).date()
    schedule = {
        "flight_number": "FD901",
        "origin": "JFK",
        "destination": "LHR",
        "departure_local": "08:00",
        "arrival_local": "20:00",
        "arrival_day_offset": 2,
        "days_of_week": "1234567",
        "valid_from": start.isoformat(),
        "valid_to": (start + timedelta(days=7)).isoformat(),
        "cabins": {"economy": {"seats": 10, "fare": money(100)}},
    }

    response = await client.post("/schedules", json=schedule, headers=agent.headers)

    assert_error(response, 422, "block_time_too_long")


def _cursor(values: list[Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "values",
    [
        ["0001-01-01T00:00:00+05:00", "x"],  # overflows when converted to UTC
        ["2026-12-01T08:00:00", "x"],  # naive
        ["2026-12-01T08:00:00+00:00", "x\u0000"],  # a NUL for the database
        [[["deep"]], "x"],
    ],
)
@pytest.mark.parametrize("path", ["/flights", "/bookings", "/notifications"])
async def test_a_forged_cursor_is_422_invalid_cursor(
    client: httpx.AsyncClient, passenger: TestUser, path: str, values: list[Any]
) -> None:
    response = await client.get(path, params={"cursor": _cursor(values)}, headers=passenger.headers)

    assert_error(response, 422, "invalid_cursor")


@pytest.mark.parametrize(
    "path",
    [
        "/flights/%00",
        "/flights/a%00b/status",
        "/flights/%F0%9F%9B%AB/seats",
        "/bookings/%00",
        "/payments/%00",
        "/schedules/%00",
        "/notifications/%00/read",
    ],
)
async def test_ids_that_cannot_name_a_resource_are_422_before_any_query(
    client: httpx.AsyncClient, admin: TestUser, path: str
) -> None:
    method = "POST" if path.endswith("/read") else "GET"

    response = await client.request(method, path, headers=admin.headers)

    assert_error(response, 422, "validation_error")
