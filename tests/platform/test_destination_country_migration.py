"""Migration 0013 gives every existing flight its arrival airport's country."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from flightdeck.platform.migrations import upgrade_database
from flightdeck.platform.settings import Settings


def test_existing_flights_get_their_destinations_country(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    settings = Settings(database_url=f"sqlite+aiosqlite:///{path}")
    upgrade_database(settings, "0012")
    with sqlite3.connect(path) as db:
        for number, destination in (("FD1", "LHR"), ("FD2", "ORD"), ("FD3", "ORD"), ("FD4", "Q9Q")):
            db.execute(
                "INSERT INTO flights (id, flight_number, service_date, flight_date, origin,"
                " destination, departure_at, arrival_at, status, delay_minutes, created_at,"
                " updated_at) VALUES (?, ?, '2026-06-01', '2026-06-01', 'JFK', ?,"
                " '2026-06-01 22:00:00', '2026-06-02 06:00:00', 'scheduled', 0, '2026-01-01',"
                " '2026-01-01')",
                (number.lower(), number, destination),
            )

    upgrade_database(settings)

    with sqlite3.connect(path) as db:
        rows = db.execute("SELECT flight_number, destination_country FROM flights ORDER BY 1")
        # An airport the data does not know counts as abroad: no country.
        assert rows.fetchall() == [("FD1", "GB"), ("FD2", "US"), ("FD3", "US"), ("FD4", "")]
        null = db.execute(
            "SELECT \"notnull\" FROM pragma_table_info('flights') WHERE name = ?",
            ("destination_country",),
        )
        assert null.fetchone() == (1,)
