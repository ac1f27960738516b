"""A page of connections is the best of every pair the day holds, in each order, however the
database reads it: PostgreSQL ranks the pairs by duration before it reads their cabins
(flights/itineraries/statements.py, `_two_leg_ranked_by_duration`), and reads the cabins of
the page's pairs only."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text

from flightdeck.flights.itineraries import repository
from flightdeck.flights.itineraries.repository import ConnectionTimes, Order, SearchWindow
from flightdeck.platform.db import read_connection
from tests.search.factories import add_flight_rows
from tests.search.statements import captured_selects, sql_literal

pytestmark = pytest.mark.asyncio(loop_scope="session")

START = datetime(2026, 2, 10, 6, 0, tzinfo=UTC)
WINDOW = SearchWindow("JFK", "SFO", START, START + timedelta(days=1), "economy", 1)
TIMES = ConnectionTimes("US", timedelta(minutes=45), timedelta(minutes=90), timedelta(hours=8))
FIRSTS, SECONDS = 24, 24  # JFK → ORD every 10 minutes, ORD → SFO every 15 minutes
SOLD_OUT = {"S0", "S1", "S2", "F20"}  # among the shortest pairs: a page must pass over them


def _fare(number: str) -> int:
    """Fares of 100.00-149.00 USD in an order of their own, so pairs of one duration differ
    in price and the rest of the key decides between them."""
    return 10_000 + (int(number[1:]) * 37 % 50) * 100


async def _hub_day(app: Any) -> dict[str, dict[str, Any]]:
    """The flights (three hours each) by number, with their fare and seats left."""
    flights = [
        ("F" + str(i), "JFK", "ORD", START + timedelta(minutes=10 * i)) for i in range(FIRSTS)
    ]
    flights += [
        ("S" + str(i), "ORD", "SFO", START + timedelta(hours=3, minutes=45 + 15 * i))
        for i in range(SECONDS)
    ]
    await add_flight_rows(app, flights)
    async with app.state.engine.begin() as conn:
        for number, *_ in flights:
            await conn.execute(
                text(
                    "UPDATE flight_cabins SET fare_amount = :fare,"
                    " sold = CASE WHEN :sold_out THEN capacity ELSE 0 END"
                    " WHERE flight_id IN (SELECT id FROM flights WHERE flight_number = :number)"
                ),
                {"fare": _fare(number), "sold_out": number in SOLD_OUT, "number": number},
            )
    return {
        number: {
            "id": f"row-{i}-{number}",
            "departure": departure,
            "arrival": departure + timedelta(hours=3),
            "fare": _fare(number),
            "seats": 0 if number in SOLD_OUT else 150,
        }
        for i, (number, _, _, departure) in enumerate(flights)
    }


def _best(flights: dict[str, dict[str, Any]], order: Order, limit: int) -> list[tuple[str, str]]:
    """Every pair the rules allow, ranked in Python as search ranks them."""
    keys = []
    for first, a in flights.items():
        for second, b in flights.items():
            if not (first.startswith("F") and second.startswith("S")) or 0 in (
                a["seats"],
                b["seats"],
            ):
                continue
            layover = b["departure"] - a["arrival"]
            if not TIMES.min_domestic <= layover <= TIMES.max_layover:
                continue
            fare, duration = a["fare"] + b["fare"], b["arrival"] - a["departure"]
            rank = {
                "price": (fare, duration, a["departure"]),
                "duration": (duration, fare, a["departure"]),
                "departure": (a["departure"], duration, fare),
            }[order]
            keys.append((*rank, a["id"], b["id"], first, second))
    return [(first, second) for *_, first, second in sorted(keys)[:limit]]


@pytest.mark.usefixtures("client")  # its teardown empties the tables
@pytest.mark.parametrize("order", ["duration", "price", "departure"])
async def test_a_page_of_connections_is_the_best_of_every_pair_of_the_day(
    app: Any, order: Order
) -> None:
    flights = await _hub_day(app)
    assert len(_best(flights, order, 10_000)) > 200  # the day holds far more than a page

    async with read_connection(app.state.engine) as conn:
        page = await repository.connections(conn, WINDOW, order, times=TIMES, limit=7)

    assert [(a.flight_number, b.flight_number) for a, b in page] == _best(flights, order, 7)


def _nodes(plan: dict[str, Any]) -> list[dict[str, Any]]:
    return [plan, *(node for child in plan.get("Plans", []) for node in _nodes(child))]


async def _generic_plan(app: Any, sql: str, parameters: Any) -> dict[str, Any]:
    """EXPLAIN ANALYZE of the statement in the generic plan PostgreSQL keeps for a prepared
    statement after five executions (as the app's prepared searches run)."""
    async with app.state.engine.connect() as conn:
        await conn.exec_driver_sql("SET plan_cache_mode = force_generic_plan")
        await conn.exec_driver_sql(f"PREPARE ranked AS {sql}")
        arguments = ", ".join(sql_literal(value) for value in parameters)  # EXECUTE binds none
        rows = await conn.exec_driver_sql(
            f"EXPLAIN (ANALYZE, FORMAT JSON) EXECUTE ranked({arguments})"
        )
        [[document]] = rows.all()
        await conn.exec_driver_sql("DEALLOCATE ranked")
        await conn.exec_driver_sql("RESET plan_cache_mode")
        await conn.rollback()
    plan: dict[str, Any] = (json.loads(document) if isinstance(document, str) else document)[0]
    return plan["Plan"]


@pytest.mark.usefixtures("client")
@pytest.mark.parametrize("settings", ["postgres"], indirect=True)
async def test_by_duration_postgresql_reads_the_cabins_of_the_pages_pairs_only(app: Any) -> None:
    """Ranked by duration, the flights' times order the pairs before any cabin is read, so
    PostgreSQL reads the cabins pair by pair in that order and stops with the page (by price,
    every pair's cabins must be read: its fares decide). Planned with the statistics of a
    network of some size: 4,000 other flights over 50 days."""
    await add_flight_rows(
        app,
        [
            (f"B{n}", ("JFK", "ORD", "ATL", "DEN")[n % 4], ("LAX", "SEA", "MIA")[n % 3], departure)
            for n in range(80)
            for departure in (START + timedelta(days=day, minutes=7 * n) for day in range(-20, 30))
        ],
    )
    flights = await _hub_day(app)
    with captured_selects(app) as captured:
        async with read_connection(app.state.engine) as conn:
            await repository.connections(conn, WINDOW, "duration", times=TIMES, limit=7)
    [(sql, parameters)] = [s for s in captured if "second_leg" in s[0]]

    plan = await _generic_plan(app, sql, parameters)

    second_cabins_read = [
        n["Actual Loops"] for n in _nodes(plan) if n.get("Alias") == "second_cabin"
    ]
    # Seven pairs, the sold-out ones passed over and the pairs tied with the seventh: of more
    # than 200 pairs the rules allow that day (each read, when their cabins came first).
    assert len(_best(flights, "duration", 10_000)) > 200
    assert sum(second_cabins_read) <= 20, json.dumps(plan, indent=1)
