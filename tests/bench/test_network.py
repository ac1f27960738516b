"""The search and hold benches' data set (bench/network.py) writes into the current schema:
a migration that adds a column must not break `make bench-search` unnoticed."""

from __future__ import annotations

import asyncio
import sqlite3
import sys
import uuid
from pathlib import Path

from sqlalchemy import make_url

from flightdeck.platform.migrations import upgrade_database
from tests.conftest import make_settings
from tests.servers.postgres import fetch_rows

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from network import build_network  # bench/, put on the path just above


def test_the_bench_network_loads_into_the_migrated_schema(tmp_path: Path) -> None:
    path = tmp_path / "bench.db"
    url = f"sqlite+aiosqlite:///{path}"
    upgrade_database(make_settings(url))

    network = build_network(url, flights=120, days=3, history_days=2, seed=1)

    with sqlite3.connect(path) as db:
        [(future,)] = db.execute("SELECT count(*) FROM flights WHERE status = 'scheduled'")
        [(flown,)] = db.execute("SELECT count(*) FROM flights WHERE status = 'arrived'")
        [(cabins,)] = db.execute("SELECT count(*) FROM flight_cabins")
        [(km,)] = db.execute("SELECT min(distance_km) FROM flights")
    assert (future, flown) == (network.flights, network.history_flights) == (120, 80)
    assert cabins == 2 * (future + flown)
    assert km > 0
    assert network.direct_days()


def test_on_postgresql_the_loaded_tables_have_planner_statistics(postgres_root_url: str) -> None:
    # Without them the planner guessed a handful of rows per table until autovacuum came by,
    # a minute or two into a bench's first phase.
    name = f"flightdeck_bench_{uuid.uuid4().hex[:10]}"
    root = make_url(postgres_root_url)
    asyncio.run(fetch_rows(root.render_as_string(hide_password=False), f'CREATE DATABASE "{name}"'))
    url = root.set(database=name).render_as_string(hide_password=False)
    try:
        upgrade_database(make_settings(url))
        network = build_network(url, flights=120, days=3, history_days=2, seed=1)

        rows = asyncio.run(
            fetch_rows(
                url,
                "SELECT relname, reltuples FROM pg_class WHERE relname IN "
                "('flights', 'flight_cabins')",
            )
        )
        analyzed = asyncio.run(
            fetch_rows(url, "SELECT DISTINCT tablename FROM pg_stats WHERE schemaname = 'public'")
        )
    finally:
        asyncio.run(
            fetch_rows(
                root.render_as_string(hide_password=False),
                f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)',
            )
        )
    flights = network.flights + network.history_flights
    assert {r["relname"]: r["reltuples"] for r in rows} == {
        "flights": flights,
        "flight_cabins": 2 * flights,
    }
    assert {"flights", "flight_cabins"} <= {r["tablename"] for r in analyzed}
