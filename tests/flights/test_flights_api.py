"""Creating, reading and listing dated flights."""

from __future__ import annotations

import asyncio
import base64
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from tests.conftest import TestUser as AppUser
from tests.conftest import assert_error
from tests.flights.factories import create_flight, flight_payload, money
from tests.statements import statements_sent

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_agent_creates_flight_with_times_in_airport_local_offsets(
    client: httpx.AsyncClient, agent: AppUser
) -> None:
    flight = await create_flight(client, agent.headers)

    assert flight["flight_number"] == "FD101"
    assert flight["departure_time"] == "2026-12-01T08:30:00-05:00"
    # London in winter is at offset zero, written as an offset like every other airport's.
    assert flight["arrival_time"] == "2026-12-01T20:30:00+00:00"
    assert flight["service_date"] == "2026-12-01"
    assert flight["duration_minutes"] == 7 * 60
    assert flight["status"] == "scheduled"
    assert flight["cabins"]["economy"] == {
        "seats": 150,
        "sold": 0,
        "seats_available": 150,
        "fare": money(45000),
    }


async def test_times_given_in_another_offset_are_returned_in_the_airports_offsets(
    client: httpx.AsyncClient, agent: AppUser
) -> None:
    flight = await create_flight(
        client,
        agent.headers,
        departure_time="2026-07-01T12:00:00+00:00",
        arrival_time="2026-07-01T19:00:00+00:00",
    )

    assert flight["departure_time"] == "2026-07-01T08:00:00-04:00"  # New York summer time
    assert flight["arrival_time"] == "2026-07-01T20:00:00+01:00"  # London summer time


async def test_service_date_is_the_local_departure_date_at_the_origin(
    client: httpx.AsyncClient, agent: AppUser
) -> None:
    flight = await create_flight(
        client,
        agent.headers,
        departure_time="2026-12-01T22:30:00-05:00",  # already 2 December in UTC
        arrival_time="2026-12-02T10:30:00+00:00",
    )

    assert flight["service_date"] == "2026-12-01"


async def test_get_flight_returns_seats_available_per_cabin(
    client: httpx.AsyncClient, agent: AppUser
) -> None:
    created = await create_flight(client, agent.headers)

    response = await client.get(f"/flights/{created['id']}")

    assert response.status_code == 200
    assert response.json()["seats_available"] == {"economy": 150, "business": 20}


async def test_get_unknown_flight_is_404(client: httpx.AsyncClient) -> None:
    assert_error(await client.get("/flights/no-such-flight"), 404, "flight_not_found")


async def test_same_flight_number_on_the_same_service_date_is_409(
    client: httpx.AsyncClient, agent: AppUser
) -> None:
    await create_flight(client, agent.headers)

    response = await client.post(
        "/flights",
        json=flight_payload(
            departure_time="2026-12-01T18:00:00-05:00", arrival_time="2026-12-02T06:00:00+00:00"
        ),
        headers=agent.headers,
    )

    error = assert_error(response, 409, "duplicate_flight")
    assert error["details"] == {"flight_number": "FD101", "service_date": "2026-12-01"}


async def test_same_flight_number_on_another_day_is_created(
    client: httpx.AsyncClient, agent: AppUser
) -> None:
    await create_flight(client, agent.headers)

    flight = await create_flight(
        client,
        agent.headers,
        departure_time="2026-12-02T08:30:00-05:00",
        arrival_time="2026-12-02T20:30:00+00:00",
    )

    assert flight["service_date"] == "2026-12-02"


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        ({"arrival_time": "2026-12-01T08:00:00-05:00"}, "validation_error"),
        ({"origin": "XQX"}, "unknown_airport"),
        ({"destination": "QQQ"}, "unknown_airport"),
        ({"destination": "JFK"}, "validation_error"),
        ({"cabins": {"economy": {"seats": -1, "fare": money(100)}}}, "validation_error"),
        ({"cabins": {"economy": {"seats": 10, "fare": money(-5)}}}, "validation_error"),
        ({"cabins": {"sleeper": {"seats": 10, "fare": money(100)}}}, "validation_error"),
        ({"cabins": {}}, "validation_error"),
        ({"departure_time": "2026-12-01T08:30:00"}, "validation_error"),
        ({"flight_number": "not a flight"}, "validation_error"),
        ({"origin": "JFKX"}, "validation_error"),
    ],
    ids=[
        "arrival-before-departure",
        "unknown-origin",
        "unknown-destination",
        "same-origin-and-destination",
        "negative-seats",
        "negative-fare",
        "unknown-cabin",
        "no-cabins",
        "naive-datetime",
        "bad-flight-number",
        "bad-airport-code",
    ],
)
async def test_invalid_flight_is_422_and_nothing_is_stored(
    client: httpx.AsyncClient, agent: AppUser, overrides: dict[str, Any], code: str
) -> None:
    response = await client.post(
        "/flights", json=flight_payload(**overrides), headers=agent.headers
    )

    assert_error(response, 422, code)
    assert (await client.get("/flights")).json()["items"] == []


async def test_unknown_airport_error_names_the_field(
    client: httpx.AsyncClient, agent: AppUser
) -> None:
    response = await client.post(
        "/flights", json=flight_payload(origin="XQX"), headers=agent.headers
    )

    error = assert_error(response, 422, "unknown_airport")
    assert error["details"] == {"field": "origin", "airport": "XQX"}


async def _three_flights(client: httpx.AsyncClient, headers: dict[str, str]) -> list[str]:
    """FD1 JFK→LHR 1 Dec 08:00, FD2 JFK→CDG 1 Dec 22:30 (3:30 UTC on the 2nd), FD3 BOS→LHR
    2 Dec 09:00, all local; their ids in departure order."""
    flights = [
        await create_flight(
            client,
            headers,
            flight_number="FD1",
            departure_time="2026-12-01T08:00:00-05:00",
            arrival_time="2026-12-01T20:00:00+00:00",
        ),
        await create_flight(
            client,
            headers,
            flight_number="FD2",
            destination="CDG",
            departure_time="2026-12-01T22:30:00-05:00",
            arrival_time="2026-12-02T12:00:00+01:00",
        ),
        await create_flight(
            client,
            headers,
            flight_number="FD3",
            origin="BOS",
            departure_time="2026-12-02T09:00:00-05:00",
            arrival_time="2026-12-02T20:00:00+00:00",
        ),
    ]
    return [flight["id"] for flight in flights]


def _numbers(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return [item["flight_number"] for item in response.json()["items"]]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({}, ["FD1", "FD2", "FD3"]),
        ({"origin": "JFK"}, ["FD1", "FD2"]),
        ({"origin": "jfk", "destination": "CDG"}, ["FD2"]),
        ({"destination": "LHR"}, ["FD1", "FD3"]),
        ({"origin": "JFK", "date": "2026-12-01"}, ["FD1", "FD2"]),
        ({"origin": "JFK", "date": "2026-12-02"}, []),
        ({"date": "2026-12-02"}, ["FD3"]),
        ({"flight_number": "fd3"}, ["FD3"]),
        ({"status": "scheduled"}, ["FD1", "FD2", "FD3"]),
        ({"status": "cancelled"}, []),
    ],
)
async def test_list_flights_filters(
    client: httpx.AsyncClient, agent: AppUser, query: dict[str, str], expected: list[str]
) -> None:
    await _three_flights(client, agent.headers)

    assert _numbers(await client.get("/flights", params=query)) == expected


async def test_list_flights_paginates_by_departure(
    client: httpx.AsyncClient, agent: AppUser
) -> None:
    ids = await _three_flights(client, agent.headers)

    first = (await client.get("/flights", params={"limit": 2})).json()
    second = (
        await client.get("/flights", params={"limit": 2, "cursor": first["next_cursor"]})
    ).json()

    assert [item["id"] for item in first["items"]] == ids[:2]
    assert first["next_cursor"]
    assert [item["id"] for item in second["items"]] == ids[2:]
    assert second["next_cursor"] is None


async def test_flights_departing_at_the_same_instant_page_by_id(
    client: httpx.AsyncClient, agent: AppUser
) -> None:
    for number in ("FD7", "FD8", "FD9"):
        await create_flight(client, agent.headers, flight_number=number)

    seen: list[str] = []
    cursor = None
    for _ in range(3):
        params: dict[str, str | int] = {"limit": 1}
        if cursor:
            params["cursor"] = cursor
        page = (await client.get("/flights", params=params)).json()
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]

    assert len(set(seen)) == 3
    assert seen == sorted(seen)


@pytest.mark.parametrize(
    "cursor",
    [
        "not-a-cursor!",
        base64.urlsafe_b64encode(b'{"a": 1}').decode(),
        base64.urlsafe_b64encode(b'["yesterday", "x"]').decode(),
        base64.urlsafe_b64encode(b'["2026-12-01T08:00:00", "x"]').decode(),
        base64.urlsafe_b64encode(b"[1, 2, 3]").decode(),
    ],
    ids=["garbage", "not-a-list", "not-a-date", "naive-date", "wrong-shape"],
)
async def test_bad_cursor_is_422_invalid_cursor(client: httpx.AsyncClient, cursor: str) -> None:
    assert_error(await client.get("/flights", params={"cursor": cursor}), 422, "invalid_cursor")


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ({"origin": "QQQ"}, "unknown_airport"),
        ({"status": "lost"}, "validation_error"),
        ({"date": "1 December"}, "validation_error"),
        ({"limit": 0}, "validation_error"),
    ],
)
async def test_bad_list_filter_is_422(
    client: httpx.AsyncClient, query: dict[str, str], code: str
) -> None:
    assert_error(await client.get("/flights", params=query), 422, code)


async def test_listing_loads_cabins_in_one_extra_query(
    app: FastAPI, client: httpx.AsyncClient, agent: AppUser
) -> None:
    await _three_flights(client, agent.headers)

    with statements_sent(app) as sent:
        response = await client.get("/flights")

    # The flights and their cabins (the request's other statements read the caller's
    # identity, and only on other tables).
    statements = [sql for sql, _ in sent if "FROM flight" in sql]
    assert len(response.json()["items"]) == 3
    assert len(statements) == 2, statements


async def test_two_agents_racing_to_create_the_same_flight_one_wins(
    client: httpx.AsyncClient, agent: AppUser, admin: AppUser
) -> None:
    payload = flight_payload()

    responses = await asyncio.gather(
        client.post("/flights", json=payload, headers=agent.headers),
        client.post("/flights", json=payload, headers=admin.headers),
    )

    assert sorted(r.status_code for r in responses) == [201, 409]
    loser = next(r for r in responses if r.status_code == 409)
    assert_error(loser, 409, "duplicate_flight")
    assert len((await client.get("/flights")).json()["items"]) == 1
