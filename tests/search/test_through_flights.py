"""`GET /search` and multi-leg flights: a flight's own legs are one through itinerary (same
flight number, no minimum connection time), and SSIM traffic restrictions and service types
decide what is offered."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.conftest import TestUser as AppUser
from tests.search.factories import add_flight, routes, search

pytestmark = pytest.mark.asyncio(loop_scope="session")

DAY = "2026-02-10"  # a Tuesday; London +00:00, Amsterdam +01:00, New York -05:00


async def file_ssm(client: httpx.AsyncClient, agent: AppUser, *lines: str) -> None:
    text = "\n".join(["SSM", "LT", "NEW", *lines]) + "\n"
    response = await client.post(
        "/schedules/messages",
        content=text.encode(),
        headers={**agent.headers, "Content-Type": "text/plain"},
    )
    assert response.status_code == 200, response.text
    assert response.json()["messages"][0]["status"] == "applied", response.text


async def through_flight(
    client: httpx.AsyncClient, agent: AppUser, *segment_data: str, ground: str = "0735"
) -> None:
    """FD5 AMS 07:00 → LHR 07:15, then LHR `ground` → JFK (7 h 30 min), on 10 February."""
    hours, minutes = int(ground[:2]), int(ground[2:])
    arrival = f"{(hours + 2) % 24:02d}{minutes:02d}"  # 7 h 30 min later, five hours behind
    await file_ssm(
        client,
        agent,
        "FD5",
        "10FEB26 10FEB26 2",
        "J 320 Y100",
        "AMS0700 LHR0715",
        f"LHR{ground} JFK{arrival}",
        *segment_data,
    )


def legs(itinerary: dict[str, Any]) -> list[tuple[str, int, str, str]]:
    return [
        (s["flight_number"], s["leg_sequence"], s["origin"], s["destination"])
        for s in itinerary["segments"]
    ]


async def test_a_through_flight_is_one_itinerary_without_a_connection_time(
    client: httpx.AsyncClient, agent: AppUser
) -> None:
    await through_flight(client, agent)  # 20 minutes on the ground at LHR

    body = await search(client, origin="AMS", destination="JFK", date=DAY)

    (itinerary,) = body["itineraries"]
    assert legs(itinerary) == [("FD5", 1, "AMS", "LHR"), ("FD5", 2, "LHR", "JFK")]
    assert itinerary["stops"] == 1
    assert itinerary["layovers"] == [{"airport": "LHR", "minutes": 20}]
    assert itinerary["total_price"] == {"amount": 20_000, "currency": "USD"}


async def test_a_through_flight_with_a_long_stop_is_not_offered_twice(
    client: httpx.AsyncClient, agent: AppUser
) -> None:
    await through_flight(client, agent, ground="1000")  # long enough to be a connection too

    body = await search(client, origin="AMS", destination="JFK", date=DAY)

    assert routes(body) == [["FD5", "FD5"]]


async def test_no_through_itinerary_without_stops(
    client: httpx.AsyncClient, agent: AppUser
) -> None:
    await through_flight(client, agent)

    body = await search(client, origin="AMS", destination="JFK", date=DAY, max_stops=0)

    assert body["itineraries"] == []


async def test_traffic_restrictions_decide_what_is_offered(
    client: httpx.AsyncClient, agent: AppUser
) -> None:
    # AMS-LHR: no local traffic (A); AMS-JFK through: connecting traffic only (K).
    await through_flight(client, agent, "AMSLHR 8/A", "AMSJFK 8/K")
    await add_flight(
        client, agent.headers, "FD77", "JFK", "BOS", f"{DAY}T14:00:00-05:00",
        f"{DAY}T15:15:00-05:00",
    )  # fmt: skip

    local = await search(client, origin="AMS", destination="LHR", date=DAY)
    through = await search(client, origin="AMS", destination="JFK", date=DAY)
    onwards = await search(client, origin="LHR", destination="JFK", date=DAY)

    assert local["itineraries"] == [] and through["itineraries"] == []
    assert routes(onwards) == [["FD5"]]  # LHR-JFK itself is not restricted


async def test_cargo_flights_are_not_offered(client: httpx.AsyncClient, agent: AppUser) -> None:
    await file_ssm(client, agent, "FD9", "10FEB26 10FEB26 2", "F 77F Y100", "AMS0700 LHR0715")

    body = await search(client, origin="AMS", destination="LHR", date=DAY)

    assert body["itineraries"] == []
