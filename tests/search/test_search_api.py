"""`GET /search`: direct flights and one-stop connections, local times, prices, seats."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from flightdeck.platform.clock import clock
from flightdeck.search import service
from tests.conftest import TestUser as AppUser
from tests.conftest import assert_error
from tests.flights.factories import money, sell_seats
from tests.search.factories import add_flight, routes, search

pytestmark = pytest.mark.asyncio(loop_scope="session")

DAY = "2026-02-10"  # winter: New York -05:00, Chicago -06:00, San Francisco -08:00


async def _jfk_ord(client: httpx.AsyncClient, agent: AppUser, **kwargs: Any) -> dict[str, Any]:
    """FD10 JFK 07:00 → ORD 08:45 local, $129."""
    return await add_flight(
        client,
        agent.headers,
        "FD10",
        "JFK",
        "ORD",
        f"{DAY}T07:00:00-05:00",
        f"{DAY}T08:45:00-06:00",
        fare=129_00,
        **kwargs,
    )


async def _ord_sfo(
    client: httpx.AsyncClient, agent: AppUser, number: str, departs: str, **kwargs: Any
) -> dict[str, Any]:
    """ORD → SFO leaving at `departs` (Chicago local time), 4 h 40 min, $179."""
    hours, minutes = (int(part) for part in departs.split(":"))
    arrival_minutes = hours * 60 + minutes + 280 - 120  # 4 h 40 min flown, 2 h of zones
    return await add_flight(
        client,
        agent.headers,
        number,
        "ORD",
        "SFO",
        f"{DAY}T{departs}:00-06:00",
        f"{DAY}T{arrival_minutes // 60:02d}:{arrival_minutes % 60:02d}:00-08:00",
        fare=179_00,
        **kwargs,
    )


async def test_direct_flight_is_found_with_times_in_each_airports_offset(
    client: httpx.AsyncClient, agent: AppUser
) -> None:
    flight = await add_flight(
        client,
        agent.headers,
        "FD100",
        "JFK",
        "LAX",
        f"{DAY}T08:00:00-05:00",
        f"{DAY}T11:25:00-08:00",
        fare=350_00,
    )

    body = await search(client, origin="JFK", destination="LAX", date=DAY)

    assert body["origin"] == "JFK" and body["destination"] == "LAX" and body["date"] == DAY
    [itinerary] = body["itineraries"]
    assert itinerary["stops"] == 0 and itinerary["layovers"] == []
    [segment] = itinerary["segments"]
    assert segment["id"] == flight["id"]
    assert segment["departure_time"] == f"{DAY}T08:00:00-05:00"
    assert segment["arrival_time"] == f"{DAY}T11:25:00-08:00"
    assert itinerary["departure_time"] == f"{DAY}T08:00:00-05:00"
    assert itinerary["arrival_time"] == f"{DAY}T11:25:00-08:00"
    assert itinerary["duration_minutes"] == 6 * 60 + 25
    assert itinerary["total_price"] == money(350_00)
    assert itinerary["seats_available"] == 150


async def test_date_is_the_local_date_of_departure_at_the_origin(
    client: httpx.AsyncClient, agent: AppUser
) -> None:
    # 23:30 in New York is already the next day in UTC.
    await add_flight(
        client,
        agent.headers,
        "FD1",
        "JFK",
        "LAX",
        f"{DAY}T23:30:00-05:00",
        "2026-02-11T02:50:00-08:00",
    )

    assert routes(await search(client, origin="JFK", destination="LAX", date=DAY)) == [["FD1"]]
    assert routes(await search(client, origin="JFK", destination="LAX", date="2026-02-11")) == []


async def test_one_stop_connection_is_found_with_total_price_for_all_passengers(
    client: httpx.AsyncClient, agent: AppUser, db: AsyncSession
) -> None:
    first = await _jfk_ord(client, agent)
    second = await _ord_sfo(client, agent, "FD20", "10:00")
    await sell_seats(db, second["id"], "economy", 140)

    body = await search(client, origin="JFK", destination="SFO", date=DAY, passengers=2)

    [itinerary] = body["itineraries"]
    assert [s["id"] for s in itinerary["segments"]] == [first["id"], second["id"]]
    assert itinerary["stops"] == 1
    assert itinerary["layovers"] == [{"airport": "ORD", "minutes": 75}]
    assert itinerary["departure_time"] == f"{DAY}T07:00:00-05:00"
    assert itinerary["arrival_time"] == f"{DAY}T12:40:00-08:00"
    assert itinerary["duration_minutes"] == 8 * 60 + 40
    assert itinerary["fare_per_passenger"] == money(129_00 + 179_00)
    assert itinerary["total_price"] == money((129_00 + 179_00) * 2)
    assert itinerary["seats_available"] == 10  # the fuller segment decides


async def test_connection_shorter_than_the_domestic_minimum_is_not_offered(
    client: httpx.AsyncClient, agent: AppUser
) -> None:
    await _jfk_ord(client, agent)  # lands 08:45
    await _ord_sfo(client, agent, "FD21", "09:25")  # 40 min: too short
    await _ord_sfo(client, agent, "FD22", "09:30")  # 45 min: the minimum
    await _ord_sfo(client, agent, "FD23", "09:35")  # 50 min

    body = await search(client, origin="JFK", destination="SFO", date=DAY, sort="departure")

    assert routes(body) == [["FD10", "FD22"], ["FD10", "FD23"]]
    assert [i["layovers"][0]["minutes"] for i in body["itineraries"]] == [45, 50]


async def test_connection_longer_than_the_maximum_layover_is_not_offered(
    client: httpx.AsyncClient, agent: AppUser
) -> None:
    await _jfk_ord(client, agent)  # lands 08:45
    await _ord_sfo(client, agent, "FD24", "16:45")  # 8 h: the maximum
    await _ord_sfo(client, agent, "FD25", "16:50")  # 8 h 05 min

    body = await search(client, origin="JFK", destination="SFO", date=DAY)

    assert routes(body) == [["FD10", "FD24"]]


async def test_international_minimum_connection_time_applies_between_countries(
    client: httpx.AsyncClient, agent: AppUser
) -> None:
    await add_flight(
        client,
        agent.headers,
        "FD200",
        "JFK",
        "LHR",
        f"{DAY}T18:30:00-05:00",
        "2026-02-11T06:40:00+00:00",
    )
    await add_flight(
        client,
        agent.headers,
        "NW1",
        "LHR",
        "CDG",
        "2026-02-11T08:00:00+00:00",
        "2026-02-11T10:15:00+01:00",
    )  # 80 min: enough at home, too short abroad
    await add_flight(
        client,
        agent.headers,
        "NW2",
        "LHR",
        "CDG",
        "2026-02-11T08:15:00+00:00",
        "2026-02-11T10:30:00+01:00",
    )  # 95 min

    body = await search(client, origin="JFK", destination="CDG", date=DAY)

    assert routes(body) == [["FD200", "NW2"]]


async def test_international_minimum_applies_when_only_the_destination_is_abroad(
    client: httpx.AsyncClient, agent: AppUser
) -> None:
    await _jfk_ord(client, agent)  # lands 08:45
    await add_flight(
        client, agent.headers, "AC1", "ORD", "YYZ", f"{DAY}T09:45:00-06:00", f"{DAY}T12:15:00-05:00"
    )  # 60 min: domestic would do, Toronto is abroad
    await add_flight(
        client, agent.headers, "AC2", "ORD", "YYZ", f"{DAY}T10:15:00-06:00", f"{DAY}T12:45:00-05:00"
    )  # 90 min

    body = await search(client, origin="JFK", destination="YYZ", date=DAY)

    assert routes(body) == [["FD10", "AC2"]]


async def test_connection_across_the_date_line_keeps_each_airports_local_date(
    client: httpx.AsyncClient, agent: AppUser
) -> None:
    # Tokyo 21:00 on the 10th is Honolulu 02:00 on the 10th: the flight lands "before" it left.
    await add_flight(
        client, agent.headers, "JL1", "NRT", "HNL", f"{DAY}T21:00:00+09:00", f"{DAY}T09:00:00-10:00"
    )
    await add_flight(
        client, agent.headers, "HA1", "HNL", "LAX", f"{DAY}T10:20:00-10:00", f"{DAY}T18:20:00-08:00"
    )  # 80 min: under the international minimum
    await add_flight(
        client, agent.headers, "HA2", "HNL", "LAX", f"{DAY}T11:00:00-10:00", f"{DAY}T19:00:00-08:00"
    )  # 120 min

    body = await search(client, origin="NRT", destination="LAX", date=DAY)

    [itinerary] = body["itineraries"]
    assert routes(body) == [["JL1", "HA2"]]
    assert itinerary["departure_time"] == f"{DAY}T21:00:00+09:00"
    assert itinerary["arrival_time"] == f"{DAY}T19:00:00-08:00"
    assert itinerary["layovers"] == [{"airport": "HNL", "minutes": 120}]
    assert itinerary["duration_minutes"] == 15 * 60


async def test_connection_across_a_dst_change_counts_the_real_layover(
    client: httpx.AsyncClient, agent: AppUser
) -> None:
    # The US springs forward at 02:00 on 8 March 2026: Chicago goes from -06:00 to -05:00.
    await add_flight(
        client,
        agent.headers,
        "AS1",
        "SEA",
        "ORD",
        "2026-03-07T21:30:00-08:00",
        "2026-03-08T01:30:00-06:00",
    )
    # 01:30 CST → 03:10 CDT is 100 min on the wall clock but 40 min in fact: too short.
    await add_flight(
        client,
        agent.headers,
        "UA1",
        "ORD",
        "BOS",
        "2026-03-08T03:10:00-05:00",
        "2026-03-08T05:50:00-04:00",
    )
    await add_flight(
        client,
        agent.headers,
        "UA2",
        "ORD",
        "BOS",
        "2026-03-08T03:20:00-05:00",
        "2026-03-08T06:00:00-04:00",
    )

    body = await search(client, origin="SEA", destination="BOS", date="2026-03-07")

    [itinerary] = body["itineraries"]
    assert routes(body) == [["AS1", "UA2"]]
    assert itinerary["layovers"] == [{"airport": "ORD", "minutes": 50}]
    assert itinerary["departure_time"] == "2026-03-07T21:30:00-08:00"
    assert itinerary["arrival_time"] == "2026-03-08T06:00:00-04:00"
    assert itinerary["duration_minutes"] == 4 * 60 + 30


async def test_itineraries_without_enough_seats_for_every_passenger_are_left_out(
    client: httpx.AsyncClient, agent: AppUser, db: AsyncSession
) -> None:
    await add_flight(
        client,
        agent.headers,
        "FD1",
        "JFK",
        "SFO",
        f"{DAY}T09:00:00-05:00",
        f"{DAY}T12:30:00-08:00",
        seats=4,
    )
    await _jfk_ord(client, agent)
    second = await _ord_sfo(client, agent, "FD20", "10:00")
    await sell_seats(db, second["id"], "economy", 147)  # 3 left

    three = await search(client, origin="JFK", destination="SFO", date=DAY, passengers=3)
    four = await search(client, origin="JFK", destination="SFO", date=DAY, passengers=4)
    five = await search(client, origin="JFK", destination="SFO", date=DAY, passengers=5)

    assert routes(three) == [["FD1"], ["FD10", "FD20"]]
    assert [i["seats_available"] for i in three["itineraries"]] == [4, 3]
    assert routes(four) == [["FD1"]]
    assert routes(five) == []


async def test_only_flights_offering_the_cabin_are_found(
    client: httpx.AsyncClient, agent: AppUser
) -> None:
    await add_flight(
        client, agent.headers, "FD1", "JFK", "SFO", f"{DAY}T09:00:00-05:00", f"{DAY}T12:30:00-08:00"
    )
    await add_flight(
        client,
        agent.headers,
        "FD2",
        "JFK",
        "SFO",
        f"{DAY}T10:00:00-05:00",
        f"{DAY}T13:30:00-08:00",
        cabins={
            "economy": {"seats": 100, "fare": money(300_00)},
            "business": {"seats": 8, "fare": money(1_500_00)},
        },
    )

    body = await search(
        client, origin="JFK", destination="SFO", date=DAY, cabin="business", passengers=2
    )

    assert routes(body) == [["FD2"]]
    assert body["itineraries"][0]["total_price"] == money(3_000_00)
    assert body["itineraries"][0]["seats_available"] == 8


async def _three_ways_to_sfo(client: httpx.AsyncClient, agent: AppUser) -> None:
    await add_flight(  # 390 min, $500, leaves 09:00
        client,
        agent.headers,
        "FD1",
        "JFK",
        "SFO",
        f"{DAY}T09:00:00-05:00",
        f"{DAY}T12:30:00-08:00",
        fare=500_00,
    )
    await add_flight(  # 405 min, $450, leaves 06:00
        client,
        agent.headers,
        "FD2",
        "JFK",
        "SFO",
        f"{DAY}T06:00:00-05:00",
        f"{DAY}T09:45:00-08:00",
        fare=450_00,
    )
    await _jfk_ord(client, agent)  # with FD20: 520 min, $308, leaves 07:00
    await _ord_sfo(client, agent, "FD20", "10:00")


@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        ("price", [["FD10", "FD20"], ["FD2"], ["FD1"]]),
        ("duration", [["FD1"], ["FD2"], ["FD10", "FD20"]]),
        ("departure", [["FD2"], ["FD10", "FD20"], ["FD1"]]),
    ],
)
async def test_itineraries_come_in_the_requested_order(
    client: httpx.AsyncClient, agent: AppUser, sort: str, expected: list[list[str]]
) -> None:
    await _three_ways_to_sfo(client, agent)

    body = await search(client, origin="JFK", destination="SFO", date=DAY, sort=sort)

    assert routes(body) == expected


async def test_price_is_the_default_order_and_max_stops_zero_keeps_only_direct_flights(
    client: httpx.AsyncClient, agent: AppUser
) -> None:
    await _three_ways_to_sfo(client, agent)

    default = await search(client, origin="JFK", destination="SFO", date=DAY)
    direct = await search(client, origin="JFK", destination="SFO", date=DAY, max_stops=0)

    assert routes(default)[0] == ["FD10", "FD20"]
    assert routes(direct) == [["FD2"], ["FD1"]]


async def test_answer_is_capped_at_the_best_itineraries(
    client: httpx.AsyncClient, agent: AppUser, monkeypatch: pytest.MonkeyPatch
) -> None:
    await _three_ways_to_sfo(client, agent)
    monkeypatch.setattr(service, "MAX_ITINERARIES", 2)

    body = await search(client, origin="JFK", destination="SFO", date=DAY, sort="duration")

    assert routes(body) == [["FD1"], ["FD2"]]


async def test_cancelled_flights_are_not_offered_alone_or_in_connections(
    client: httpx.AsyncClient, agent: AppUser
) -> None:
    direct = await add_flight(
        client, agent.headers, "FD1", "JFK", "SFO", f"{DAY}T09:00:00-05:00", f"{DAY}T12:30:00-08:00"
    )
    await _jfk_ord(client, agent)
    second = await _ord_sfo(client, agent, "FD20", "10:00")
    for flight in (direct, second):
        response = await client.put(
            f"/flights/{flight['id']}/status", json={"status": "cancelled"}, headers=agent.headers
        )
        assert response.status_code == 200, response.text

    body = await search(client, origin="JFK", destination="SFO", date=DAY)

    assert body["itineraries"] == []


async def test_flights_that_already_left_are_not_offered(
    client: httpx.AsyncClient, agent: AppUser
) -> None:
    await add_flight(
        client, agent.headers, "FD1", "JFK", "SFO", f"{DAY}T06:00:00-05:00", f"{DAY}T09:30:00-08:00"
    )
    await add_flight(
        client, agent.headers, "FD2", "JFK", "SFO", f"{DAY}T18:00:00-05:00", f"{DAY}T21:30:00-08:00"
    )
    clock.advance(datetime(2026, 2, 10, 12, 0, tzinfo=UTC) - clock.now())  # 07:00 in New York

    body = await search(client, origin="JFK", destination="SFO", date=DAY)

    assert routes(body) == [["FD2"]]


async def test_connections_never_mix_fare_currencies(
    client: httpx.AsyncClient, agent: AppUser
) -> None:
    await _jfk_ord(client, agent)
    await _ord_sfo(client, agent, "FD20", "10:00", currency="EUR")
    await _ord_sfo(client, agent, "FD21", "11:00")

    body = await search(client, origin="JFK", destination="SFO", date=DAY)

    assert routes(body) == [["FD10", "FD21"]]


async def test_search_needs_no_sign_in_and_a_day_without_flights_is_empty(
    client: httpx.AsyncClient,
) -> None:
    body = await search(client, origin="jfk", destination="lhr", date=DAY)

    assert body["origin"] == "JFK" and body["destination"] == "LHR"
    assert body["passengers"] == 1 and body["cabin"] == "economy" and body["max_stops"] == 1
    assert body["itineraries"] == []


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"origin": "ZZZ"}, "unknown_airport"),
        ({"destination": "QQQ"}, "unknown_airport"),
        ({"destination": "JFK"}, "validation_error"),
        ({"origin": "JF"}, "validation_error"),
        ({"passengers": 0}, "validation_error"),
        ({"passengers": 10}, "validation_error"),
        ({"max_stops": 2}, "validation_error"),
        ({"max_stops": -1}, "validation_error"),
        ({"sort": "cheapest"}, "validation_error"),
        ({"cabin": "luxury"}, "validation_error"),
        ({"date": "2026-13-01"}, "validation_error"),
        ({"date": "10/02/2026"}, "validation_error"),
        ({"date": None}, "validation_error"),
    ],
)
async def test_bad_search_is_422_in_the_error_shape(
    client: httpx.AsyncClient, params: dict[str, object], code: str
) -> None:
    query = {"origin": "JFK", "destination": "SFO", "date": DAY, **params}
    query = {name: value for name, value in query.items() if value is not None}

    error = assert_error(await client.get("/search", params=query), 422, code)

    assert error["details"]
