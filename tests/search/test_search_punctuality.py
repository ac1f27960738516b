"""Every search segment carries its flight number's punctuality over the last 30 days, from its
flights' outcomes; it is cached, so a search that finds it cached runs no query for it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from flightdeck.flights.status.service import computed_punctuality
from tests.conftest import TestUser as AppUser
from tests.search.factories import add_flight, add_flight_rows, search
from tests.search.statements import captured_selects, sql_literal

pytestmark = pytest.mark.asyncio(loop_scope="session")

DAY = "2026-02-10"  # the searched day; the test clock is at 2026-01-01T00:00Z


async def _jfk_ord(client: httpx.AsyncClient, agent: AppUser, number: str, day: str) -> Any:
    """`number` JFK 07:00 → ORD 08:45 local on `day`."""
    return await add_flight(
        client,
        agent.headers,
        number,
        "JFK",
        "ORD",
        f"{day}T07:00:00-05:00",
        f"{day}T08:45:00-06:00",
    )


async def _set_status(
    client: httpx.AsyncClient, agent: AppUser, flight_id: str, **update: Any
) -> None:
    response = await client.put(f"/flights/{flight_id}/status", json=update, headers=agent.headers)
    assert response.status_code == 200, response.text


async def _fly(
    client: httpx.AsyncClient, agent: AppUser, flight: dict[str, Any], late_minutes: int
) -> None:
    """The flight departs and arrives `late_minutes` after its schedule."""
    late = timedelta(minutes=late_minutes)
    departure = datetime.fromisoformat(flight["departure_time"]) + late
    arrival = datetime.fromisoformat(flight["arrival_time"]) + late
    await _set_status(client, agent, flight["id"], status="boarding")
    await _set_status(
        client, agent, flight["id"], status="departed", actual_departure=departure.isoformat()
    )
    await _set_status(
        client, agent, flight["id"], status="arrived", actual_arrival=arrival.isoformat()
    )


def _punctuality(body: dict[str, Any], number: str) -> dict[str, Any]:
    [segment] = [
        s for i in body["itineraries"] for s in i["segments"] if s["flight_number"] == number
    ]
    punctuality: dict[str, Any] = segment["punctuality"]
    return punctuality


async def test_segments_show_the_last_30_days_of_their_flight_number(
    client: httpx.AsyncClient, agent: AppUser
) -> None:
    await _fly(client, agent, await _jfk_ord(client, agent, "FD7", "2025-12-28"), 5)
    await _fly(client, agent, await _jfk_ord(client, agent, "FD7", "2025-12-29"), 40)
    cancelled = await _jfk_ord(client, agent, "FD7", "2025-12-30")
    await _set_status(client, agent, cancelled["id"], status="cancelled")
    await _fly(client, agent, await _jfk_ord(client, agent, "FD7", "2025-11-20"), 100)  # too old
    await _jfk_ord(client, agent, "FD7", "2025-12-31")  # no outcome yet: not observed
    await _jfk_ord(client, agent, "FD7", DAY)
    await add_flight(
        client, agent.headers, "FD8", "JFK", "ORD", f"{DAY}T09:00:00-05:00", f"{DAY}T10:45:00-06:00"
    )

    body = await search(client, origin="JFK", destination="ORD", date=DAY)

    assert _punctuality(body, "FD7") == {
        "window_days": 30,
        "flights_observed": 3,
        "on_time_share": 0.333,  # 5 min late is on time; 40 min late and cancelled are not
        "average_delay_minutes": 22.5,  # of the two that arrived
    }
    assert _punctuality(body, "FD8") == {
        "window_days": 30,
        "flights_observed": 0,
        "on_time_share": None,
        "average_delay_minutes": None,
    }


async def test_a_diverted_flight_is_observed_but_never_on_time(
    client: httpx.AsyncClient, agent: AppUser
) -> None:
    """Diverted, and diverted then arrived at the other airport: both observed, neither on
    time nor in the average delay (the diversion is kept on the flight after it arrives)."""
    await _fly(client, agent, await _jfk_ord(client, agent, "FD7", "2025-12-28"), 30)
    for day, arrives in (("2025-12-29", False), ("2025-12-30", True)):
        flight = await _jfk_ord(client, agent, "FD7", day)
        departed = datetime.fromisoformat(flight["departure_time"])
        await _set_status(client, agent, flight["id"], status="boarding")
        await _set_status(
            client, agent, flight["id"], status="departed", actual_departure=departed.isoformat()
        )
        await _set_status(client, agent, flight["id"], status="diverted", diverted_to="MKE")
        if arrives:
            arrival = datetime.fromisoformat(flight["arrival_time"]) - timedelta(minutes=20)
            await _set_status(
                client, agent, flight["id"], status="arrived", actual_arrival=arrival.isoformat()
            )
    await _jfk_ord(client, agent, "FD7", DAY)

    body = await search(client, origin="JFK", destination="ORD", date=DAY)

    assert _punctuality(body, "FD7") == {
        "window_days": 30,
        "flights_observed": 3,
        "on_time_share": 0.0,  # 30 minutes late; two diversions (one landed early elsewhere)
        "average_delay_minutes": 30.0,  # the one that arrived where it was going
    }


async def test_an_arrival_shows_in_the_next_search(
    client: httpx.AsyncClient, agent: AppUser
) -> None:
    await _fly(client, agent, await _jfk_ord(client, agent, "FD7", "2025-12-28"), 50)
    yesterday = await _jfk_ord(client, agent, "FD7", "2025-12-31")
    await _jfk_ord(client, agent, "FD7", DAY)
    before = _punctuality(await search(client, origin="JFK", destination="ORD", date=DAY), "FD7")

    await _fly(client, agent, yesterday, 0)

    after = _punctuality(await search(client, origin="JFK", destination="ORD", date=DAY), "FD7")
    assert (before["flights_observed"], before["on_time_share"]) == (1, 0.0)
    assert (after["flights_observed"], after["on_time_share"]) == (2, 0.5)
    assert after["average_delay_minutes"] == 25.0


async def test_cached_punctuality_costs_a_search_no_query(
    app: FastAPI, client: httpx.AsyncClient, agent: AppUser
) -> None:
    await _fly(client, agent, await _jfk_ord(client, agent, "FD7", "2025-12-28"), 5)
    for day in (DAY, "2026-02-11"):
        await _jfk_ord(client, agent, "FD7", day)
        await add_flight(
            client, agent.headers, "FD20", "ORD", "SFO", f"{day}T10:00:00-06:00",
            f"{day}T12:40:00-08:00",
        )  # fmt: skip

    with captured_selects(app) as first:
        await search(client, origin="JFK", destination="SFO", date=DAY)
    with captured_selects(app) as second:  # another day: not cached, same flight numbers
        body = await search(client, origin="JFK", destination="SFO", date="2026-02-11")

    punctuality = [s for s, _ in first if "GROUP BY flights.flight_number" in s]
    assert len(punctuality) == 1  # both flight numbers in one query
    assert len(first) == 2  # every kind of itinerary in one statement, punctuality
    assert [s for s, _ in second if "GROUP BY flights.flight_number" in s] == []
    assert len(second) == 1
    assert _punctuality(body, "FD7")["flights_observed"] == 1


@pytest.mark.parametrize("settings", ["postgres"], indirect=True)
async def test_punctuality_reads_its_flight_numbers_window_on_one_index(app: FastAPI) -> None:
    """A flight number's flights of the last 30 days, on (flight number, departure): not the
    whole status history, and, in the generic plan PostgreSQL keeps for the prepared statement
    after five executions, not the departure index's whole window either."""
    now = datetime.now(UTC).replace(microsecond=0)
    await add_flight_rows(
        app,
        [
            (f"FD{100 + n}", "JFK", "ORD", now - timedelta(days=day, hours=n % 12))
            for n in range(60)
            for day in range(-10, 40)
        ],
    )
    with captured_selects(app) as captured:
        async with app.state.engine.connect() as conn:
            await computed_punctuality(conn, ["FD100", "FD101"], cache_seconds=0)
    [(sql, parameters)] = captured

    async with app.state.engine.connect() as conn:
        await conn.exec_driver_sql("SET plan_cache_mode = force_generic_plan")
        await conn.exec_driver_sql(f"PREPARE punctuality AS {sql}")
        arguments = ", ".join(sql_literal(value) for value in parameters)  # EXECUTE binds none
        rows = await conn.exec_driver_sql(f"EXPLAIN EXECUTE punctuality({arguments})")
        plan = "\n".join(row[0] for row in rows)
        await conn.exec_driver_sql("DEALLOCATE punctuality")
        await conn.exec_driver_sql("RESET plan_cache_mode")
        await conn.rollback()

    assert "ix_flights_number_departure" in plan, plan
    assert "flight_status_changes" not in plan and "ix_flights_departure" not in plan, plan
