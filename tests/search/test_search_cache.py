"""Search reads: indexed queries, cabins in one query, and answers cached until a flight on the
route changes."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client import REGISTRY
from sqlalchemy.ext.asyncio import AsyncSession

from flightdeck.flights.airports import to_local
from flightdeck.flights.itineraries.service import (
    invalidate_searches_for_flights,
    search_cache_tags,
)
from flightdeck.platform.clock import utcnow
from flightdeck.platform.settings import Settings
from flightdeck.search.service import cache_seconds
from tests.bookings.factories import book, booking_body
from tests.conftest import TestUser as AppUser
from tests.flights.factories import sell_seats
from tests.search.factories import add_flight, routes, search
from tests.search.statements import captured_selects, flight_searches

pytestmark = pytest.mark.asyncio(loop_scope="session")

DAY = "2026-02-10"
QUERY = {"origin": "JFK", "destination": "SFO", "date": DAY}


def cache_hits() -> float:
    return (
        REGISTRY.get_sample_value(
            "flightdeck_cache_lookups_total", {"backend": "memory", "result": "hit"}
        )
        or 0.0
    )


async def _network(client: httpx.AsyncClient, agent: AppUser) -> dict[str, dict[str, Any]]:
    """Two direct JFK to SFO flights and connections through ORD and DEN."""
    h = agent.headers
    flights = {
        "FD1": await add_flight(
            client, h, "FD1", "JFK", "SFO", f"{DAY}T09:00:00-05:00", f"{DAY}T12:30:00-08:00"
        ),
        "FD2": await add_flight(
            client, h, "FD2", "JFK", "SFO", f"{DAY}T16:00:00-05:00", f"{DAY}T19:30:00-08:00"
        ),
        "FD10": await add_flight(
            client, h, "FD10", "JFK", "ORD", f"{DAY}T07:00:00-05:00", f"{DAY}T08:45:00-06:00"
        ),
        "FD11": await add_flight(
            client, h, "FD11", "JFK", "DEN", f"{DAY}T07:30:00-05:00", f"{DAY}T10:00:00-07:00"
        ),
        "FD20": await add_flight(
            client, h, "FD20", "ORD", "SFO", f"{DAY}T10:00:00-06:00", f"{DAY}T12:40:00-08:00"
        ),
        "FD21": await add_flight(
            client, h, "FD21", "DEN", "SFO", f"{DAY}T11:30:00-07:00", f"{DAY}T13:10:00-08:00"
        ),
    }
    return flights


async def test_search_reads_every_kind_of_itinerary_in_one_query_cabins_included(
    app: FastAPI, client: httpx.AsyncClient, agent: AppUser
) -> None:
    await _network(client, agent)

    with captured_selects(app) as statements:
        body = await search(client, **QUERY)

    assert len(body["itineraries"]) == 4
    assert {i["stops"] for i in body["itineraries"]} == {0, 1}
    assert all(i["segments"][0]["cabins"]["economy"]["seats"] == 150 for i in body["itineraries"])
    # Direct flights, connections and through flights (each with every cabin of its
    # flights) in one statement; then punctuality.
    assert len(statements) == 2, [s for s, _ in statements]
    assert statements[0][0].count("UNION ALL") == 2

    with captured_selects(app) as statements:
        direct = await search(client, **QUERY, max_stops=0)
    assert {i["stops"] for i in direct["itineraries"]} == {0}
    assert len(statements) == 1, [s for s, _ in statements]  # punctuality cached now
    assert "UNION" not in statements[0][0]


async def test_search_queries_use_the_route_and_departure_indexes(
    app: FastAPI, client: httpx.AsyncClient, agent: AppUser, backend: str
) -> None:
    await _network(client, agent)
    with captured_selects(app) as statements:
        await search(client, **QUERY)  # every kind of itinerary in one statement
        await search(client, **QUERY, max_stops=0)  # direct flights alone
    [candidates] = [s for s in statements if "UNION ALL" in s[0]]
    [direct] = [
        s for s in statements if "FROM flights JOIN flight_cabins" in s[0] and s != candidates
    ]

    plans = []
    async with app.state.engine.connect() as conn:
        if backend == "postgres":
            await conn.exec_driver_sql("SET enable_seqscan = off")  # tiny tables: force the plan
        explain = "EXPLAIN QUERY PLAN " if backend == "sqlite" else "EXPLAIN "
        for statement, parameters in (direct, candidates):
            rows = await conn.exec_driver_sql(explain + statement, parameters)
            plans.append(" ".join(str(value) for row in rows for value in row))
        await conn.rollback()

    if backend == "sqlite":  # plans without statistics: the indexes the statements are built for
        direct_plan, plan = plans
        assert "flights USING INDEX ix_flights_route_departure" in direct_plan, direct_plan
        # Direct flights on the route index; connections and through flights from the
        # origin's departures.
        assert "SEARCH flights USING INDEX ix_flights_route_departure" in plan, plan
        assert plan.count("first_leg USING INDEX ix_flights_origin_departure") == 2, plan
        # A connection's second flight on the route index; a through flight's next leg on the
        # unique key (flight number, flight date, leg sequence).
        assert "second_leg USING INDEX ix_flights_route_departure" in plan, plan
        assert "second_leg USING INDEX sqlite_autoindex_flights" in plan, plan
    else:  # PostgreSQL picks among the indexes by its statistics; never a table scan
        for plan in plans:  # an index scan, index-only or bitmap, on one of the flight indexes
            assert "Seq Scan" not in plan, plan
            assert re.search(r"Index (Only )?Scan (using|on) ix_flights_", plan), plan


async def test_second_identical_search_is_answered_from_the_cache(
    app: FastAPI, client: httpx.AsyncClient, agent: AppUser
) -> None:
    await _network(client, agent)
    first = await client.get("/search", params=QUERY)
    hits = cache_hits()

    with captured_selects(app) as statements:
        second = await client.get("/search", params=QUERY)

    assert second.status_code == 200
    assert second.json() == first.json()
    assert flight_searches(statements) == []
    assert cache_hits() == hits + 1


async def test_searches_differing_in_any_parameter_are_cached_apart(
    client: httpx.AsyncClient, agent: AppUser
) -> None:
    await _network(client, agent)
    await search(client, **QUERY)

    direct = await search(client, **QUERY, max_stops=0)
    by_departure = await search(client, **QUERY, sort="departure")

    assert routes(direct) == [["FD1"], ["FD2"]]
    assert routes(by_departure)[0] == ["FD10", "FD20"]


async def test_changing_a_flights_times_refreshes_cached_searches(
    client: httpx.AsyncClient, agent: AppUser
) -> None:
    flights = await _network(client, agent)
    await search(client, **QUERY)

    response = await client.put(
        f"/flights/{flights['FD1']['id']}",
        json={"departure_time": f"{DAY}T10:00:00-05:00", "arrival_time": f"{DAY}T13:30:00-08:00"},
        headers=agent.headers,
    )
    assert response.status_code == 200, response.text
    body = await search(client, **QUERY, max_stops=0)
    again = await search(client, **QUERY)

    assert body["itineraries"][0]["departure_time"] == f"{DAY}T10:00:00-05:00"
    fd1 = next(i for i in again["itineraries"] if routes({"itineraries": [i]}) == [["FD1"]])
    assert fd1["arrival_time"] == f"{DAY}T13:30:00-08:00"


async def test_cancelling_a_connecting_flight_refreshes_cached_searches(
    client: httpx.AsyncClient, agent: AppUser
) -> None:
    flights = await _network(client, agent)
    assert ["FD11", "FD21"] in routes(await search(client, **QUERY))

    response = await client.put(
        f"/flights/{flights['FD21']['id']}/status",
        json={"status": "cancelled"},
        headers=agent.headers,
    )
    assert response.status_code == 200, response.text

    assert ["FD11", "FD21"] not in routes(await search(client, **QUERY))


async def test_a_new_second_leg_refreshes_cached_searches(
    client: httpx.AsyncClient, agent: AppUser
) -> None:
    await _network(client, agent)
    await search(client, **QUERY)

    await add_flight(
        client,
        agent.headers,
        "FD22",
        "ORD",
        "SFO",
        f"{DAY}T12:00:00-06:00",
        f"{DAY}T14:40:00-08:00",
    )

    assert ["FD10", "FD22"] in routes(await search(client, **QUERY))


async def test_removing_a_flight_refreshes_cached_searches(
    client: httpx.AsyncClient, agent: AppUser
) -> None:
    flights = await _network(client, agent)
    await search(client, **QUERY)

    response = await client.delete(f"/flights/{flights['FD10']['id']}", headers=agent.headers)
    assert response.status_code == 204, response.text

    assert not [r for r in routes(await search(client, **QUERY)) if "FD10" in r]


async def test_a_new_schedule_refreshes_cached_searches(
    client: httpx.AsyncClient, agent: AppUser
) -> None:
    await search(client, **QUERY)

    response = await client.post(
        "/schedules",
        json={
            "flight_number": "FD300",
            "origin": "JFK",
            "destination": "SFO",
            "departure_local": "12:00",
            "arrival_local": "15:30",
            "arrival_day_offset": 0,
            "days_of_week": "1234567",
            "valid_from": "2026-02-09",
            "valid_to": "2026-02-11",
            "cabins": {"economy": {"seats": 100, "fare": {"amount": 250_00, "currency": "USD"}}},
        },
        headers=agent.headers,
    )
    assert response.status_code == 201, response.text

    assert routes(await search(client, **QUERY)) == [["FD300"]]


async def test_seats_sold_refresh_cached_searches_through_the_inventory_hook(
    client: httpx.AsyncClient, agent: AppUser, db: AsyncSession
) -> None:
    flights = await _network(client, agent)
    before = await search(client, **QUERY, max_stops=0)

    # What seat inventory does when it sells seats: invalidate, in the selling transaction.
    await invalidate_searches_for_flights(db, [flights["FD1"]["id"]])
    await sell_seats(db, flights["FD1"]["id"], "economy", 140)  # commits
    after = await search(client, **QUERY, max_stops=0)

    assert [i["seats_available"] for i in before["itineraries"]] == [150, 150]
    assert [i["seats_available"] for i in after["itineraries"]] == [10, 150]


async def test_a_cached_answer_is_not_served_past_its_first_departure(
    client: httpx.AsyncClient, agent: AppUser
) -> None:
    leaves = utcnow() + timedelta(seconds=6)
    departure = to_local(leaves, "JFK")
    arrival = to_local(leaves + timedelta(hours=6), "SFO")
    h = agent.headers
    await add_flight(client, h, "FD7", "JFK", "SFO", departure.isoformat(), arrival.isoformat())
    query = {"origin": "JFK", "destination": "SFO", "date": departure.date().isoformat()}
    assert routes(await search(client, **query)) == [["FD7"]]  # cached: the default TTL is 30 s

    await asyncio.sleep((leaves - utcnow()).total_seconds() + 0.5)
    hits = cache_hits()

    assert routes(await search(client, **query)) == []  # it has left: no longer offered
    assert cache_hits() == hits  # read again, not the cached answer


async def test_an_answer_is_cached_until_its_first_departure_at_most() -> None:
    settings = Settings(search_cache_seconds=30)
    now = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)

    def answer(*departures: str) -> dict[str, Any]:
        return {"itineraries": [{"departure_time": d} for d in departures]}

    assert cache_seconds(answer(), settings, now) == 30  # nothing to leave
    assert cache_seconds(answer("2026-03-01T09:00:00-05:00"), settings, now) == 30
    # 07:00:10 in New York is 12:00:10 UTC; the later departure does not count.
    first = answer("2026-03-01T09:00:00-05:00", "2026-03-01T07:00:10-05:00")
    assert cache_seconds(first, settings, now) == 10
    assert cache_seconds(answer("2026-03-01T06:59:00-05:00"), settings, now) < 0  # not cached


# --- seats sold or released: the days a search may show ------------------------------------


async def test_a_search_is_tagged_with_the_days_its_flights_may_depart() -> None:
    eight_hours = timedelta(hours=8)
    # JFK's 10 February runs 05:00 UTC to 05:00 UTC the next day; a second leg to SFO may
    # leave until 8 hours of layover and a day of first leg after that (13:00 UTC, the 12th).
    jfk = search_cache_tags("JFK", "SFO", date(2026, 2, 10), max_layover=eight_hours)
    # London's day is the UTC day (winter): the 11th does not begin before its end.
    lhr = search_cache_tags("LHR", "JFK", date(2026, 2, 10), max_layover=eight_hours)

    assert jfk == (
        "flights-from:JFK",
        "flights-to:SFO",
        "flights-from:JFK:2026-02-10",
        "flights-from:JFK:2026-02-11",
        "flights-to:SFO:2026-02-10",
        "flights-to:SFO:2026-02-11",
        "flights-to:SFO:2026-02-12",
    )
    assert [tag for tag in lhr if tag.startswith("flights-from:LHR:")] == [
        "flights-from:LHR:2026-02-10"
    ]


async def test_seats_held_on_a_flight_of_another_day_leave_cached_searches_cached(
    app: FastAPI, client: httpx.AsyncClient, agent: AppUser, passenger: AppUser
) -> None:
    await _network(client, agent)
    later = await add_flight(
        client, agent.headers, "FD3", "JFK", "SFO", "2026-02-13T09:00:00-05:00",
        "2026-02-13T12:30:00-08:00",
    )  # fmt: skip
    first = await search(client, **QUERY)
    await book(client, passenger.headers, booking_body([later["id"]], passengers=2))
    hits = cache_hits()

    with captured_selects(app) as statements:
        again = await search(client, **QUERY)
    that_day = await search(client, **(QUERY | {"date": "2026-02-13"}), max_stops=0)

    assert again == first
    assert flight_searches(statements) == []
    assert cache_hits() == hits + 1
    assert [i["seats_available"] for i in that_day["itineraries"]] == [148]


async def test_seats_held_on_a_first_leg_of_the_day_refresh_cached_searches(
    client: httpx.AsyncClient, agent: AppUser, passenger: AppUser
) -> None:
    flights = await _network(client, agent)
    before = await search(client, **QUERY)

    await book(client, passenger.headers, booking_body([flights["FD10"]["id"]], passengers=2))
    after = await search(client, **QUERY)

    def seats(body: dict[str, Any]) -> dict[tuple[str, ...], int]:
        return {
            tuple(s["flight_number"] for s in i["segments"]): i["seats_available"]
            for i in body["itineraries"]
        }

    assert seats(before)[("FD10", "FD20")] == 150
    assert seats(after)[("FD10", "FD20")] == 148


async def test_seats_released_on_a_second_leg_two_utc_days_on_refresh_cached_searches(
    client: httpx.AsyncClient, agent: AppUser, passenger: AppUser
) -> None:
    # JFK's 10 February ends at 05:00 UTC on the 11th. A 16-hour first leg leaving just before
    # lands in Hong Kong at 20:30 UTC; the second leg leaves at 02:00 UTC on the 12th.
    first_leg = await add_flight(
        client, agent.headers, "FD40", "JFK", "HKG", f"{DAY}T23:30:00-05:00",
        "2026-02-12T04:30:00+08:00",
    )  # fmt: skip
    second_leg = await add_flight(
        client, agent.headers, "FD41", "HKG", "SIN", "2026-02-12T10:00:00+08:00",
        "2026-02-12T14:00:00+08:00",
    )  # fmt: skip
    booking = await book(client, passenger.headers, booking_body([second_leg["id"]], passengers=3))
    query = {"origin": "JFK", "destination": "SIN", "date": DAY}
    before = await search(client, **query)

    cancelled = await client.delete(f"/bookings/{booking['id']}", headers=passenger.headers)
    after = await search(client, **query)

    assert cancelled.status_code == 200, cancelled.text
    assert routes(before) == routes(after) == [["FD40", "FD41"]]
    assert after["itineraries"][0]["segments"][0]["id"] == first_leg["id"]
    assert [i["seats_available"] for i in before["itineraries"]] == [147]
    assert [i["seats_available"] for i in after["itineraries"]] == [150]
