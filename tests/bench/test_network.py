"""The search and hold benches' data set (bench/network.py) writes into the current schema:
a migration that adds a column must not break `make bench-search` unnoticed."""

from __future__ import annotations

import sqlite3
import sys
from pathlib import Path

from flightdeck.platform.migrations import upgrade_database
from tests.conftest import make_settings

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
