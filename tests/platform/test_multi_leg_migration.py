"""Migration 0011 rebuilds `flights` on SQLite: the rows referencing it must survive it."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from flightdeck.platform.migrations import upgrade_database
from flightdeck.platform.settings import Settings


def test_multi_leg_migration_keeps_every_flights_cabins_and_history(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    settings = Settings(database_url=f"sqlite+aiosqlite:///{path}")
    upgrade_database(settings, "0010")
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA foreign_keys=ON")
        db.execute(
            "INSERT INTO flights (id, flight_number, service_date, origin, destination,"
            " departure_at, arrival_at, status, delay_minutes, created_at, updated_at) VALUES"
            " ('f1', 'FD1', '2026-06-01', 'JFK', 'LHR', '2026-06-01 22:00:00',"
            " '2026-06-02 06:00:00', 'scheduled', 0, '2026-01-01', '2026-01-01')"
        )
        db.execute(
            "INSERT INTO flight_cabins (id, flight_id, cabin, capacity, sold, fare_amount,"
            " fare_currency) VALUES ('c1', 'f1', 'economy', 10, 3, 100, 'USD')"
        )
        db.execute(
            "INSERT INTO flight_status_changes (id, flight_id, status, delay_minutes, source,"
            " changed_at) VALUES ('s1', 'f1', 'scheduled', 0, 'api', '2026-01-01')"
        )

    upgrade_database(settings)

    with sqlite3.connect(path) as db:
        assert db.execute("SELECT flight_date, leg_sequence FROM flights").fetchall() == [
            ("2026-06-01", 1)
        ]
        assert db.execute("SELECT id, sold FROM flight_cabins").fetchall() == [("c1", 3)]
        assert db.execute("SELECT id FROM flight_status_changes").fetchall() == [("s1",)]
        assert db.execute("PRAGMA foreign_key_check").fetchall() == []
