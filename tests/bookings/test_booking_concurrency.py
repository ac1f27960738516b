"""No overbooking, whatever the concurrency: 200 clients race through the HTTP API."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from tests.bookings.factories import (
    booking_body,
    fetch_rows,
    future_flight,
    many_users,
    seats_available,
    traveller,
)
from tests.bookings.stores import stored_bookings_on_flight
from tests.conftest import TestUser
from tests.flights.factories import sell_seats

pytestmark = pytest.mark.asyncio(loop_scope="session")

log = logging.getLogger(__name__)
RACERS = 200


async def race(
    client: httpx.AsyncClient, users: list[dict[str, str]], bodies: list[dict[str, Any]]
) -> tuple[list[httpx.Response], float]:
    started = time.perf_counter()
    responses = await asyncio.gather(
        *(
            client.post("/bookings", json=body, headers=headers)
            for headers, body in zip(users, bodies, strict=True)
        )
    )
    return list(responses), time.perf_counter() - started


def store(app: FastAPI) -> str:
    return "mongo" if app.state.settings.bookings_store_url else "sql"


def outcomes(responses: list[httpx.Response]) -> Counter[tuple[int, str | None]]:
    return Counter(
        (r.status_code, None if r.status_code == 201 else r.json()["error"]["code"])
        for r in responses
    )


async def test_200_clients_racing_for_the_last_10_seats_exactly_10_win(
    client: httpx.AsyncClient, app: FastAPI, agent: TestUser, db: AsyncSession, backend: str
) -> None:
    flight = await future_flight(client, agent.headers, economy_seats=150)
    await sell_seats(db, flight["id"], "economy", 140)
    users = await many_users(app, RACERS)
    bodies = [booking_body([flight["id"]], passengers=[traveller(i)]) for i in range(RACERS)]

    responses, elapsed = await race(client, users, bodies)

    log.warning(
        "last-10-seats race, %s/%s: %.2f s, %s", backend, store(app), elapsed, outcomes(responses)
    )
    assert outcomes(responses) == {(201, None): 10, (409, "seats_unavailable"): RACERS - 10}
    assert await seats_available(client, flight["id"]) == 0
    [cabin] = await fetch_rows(
        db,
        "SELECT sold, capacity FROM flight_cabins WHERE flight_id = :id AND cabin = 'economy'",
        id=flight["id"],
    )
    assert cabin.sold == cabin.capacity == 150
    assert len(await stored_bookings_on_flight(app, flight["id"])) == 10


async def test_200_clients_racing_for_seat_12a_exactly_one_wins(
    client: httpx.AsyncClient, app: FastAPI, agent: TestUser, db: AsyncSession, backend: str
) -> None:
    flight = await future_flight(client, agent.headers)
    users = await many_users(app, RACERS)
    bodies = [
        booking_body([flight["id"]], passengers=[traveller(i, seat="12A")]) for i in range(RACERS)
    ]

    responses, elapsed = await race(client, users, bodies)

    log.warning(
        "seat-12A race, %s/%s: %.2f s, %s", backend, store(app), elapsed, outcomes(responses)
    )
    assert outcomes(responses) == {(201, None): 1, (409, "seat_unavailable"): RACERS - 1}
    assert await seats_available(client, flight["id"]) == 149
    holders = await fetch_rows(
        db, "SELECT booking_id FROM seat_assignments WHERE flight_id = :id", id=flight["id"]
    )
    [winner] = [r for r in responses if r.status_code == 201]
    assert [row[0] for row in holders] == [winner.json()["id"]]
