"""Migration 0009 fills in what reports need for the rows that were there before it: the
flights' distances and actual delays, the booking segments' service dates, and the segments
each payment pays for (captured, with its refund split over them)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path

import pytest
import pytest_asyncio
from alembic import command
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from flightdeck.platform.db import create_engine
from flightdeck.platform.migrations import alembic_config
from tests.conftest import make_settings

pytestmark = pytest.mark.asyncio(loop_scope="session")

BEFORE_0009 = "0008"
NOW = "2026-03-01 12:00:00"
# FD1 JFK → LHR left 2026-03-04 01:30 UTC: still the 3rd in New York (its service date).
DEPARTS, ARRIVES = "2026-03-04 01:30:00", "2026-03-04 08:30:00"


@pytest_asyncio.fixture(loop_scope="session", params=["sqlite", "postgres"])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'legacy.db'}"
        return
    root_url = request.getfixturevalue("postgres_root_url")
    name = f"flightdeck_mig_{uuid.uuid4().hex[:10]}"
    root = create_async_engine(root_url, isolation_level="AUTOCOMMIT")
    try:
        async with root.connect() as conn:
            await conn.execute(text(f'CREATE DATABASE "{name}"'))
        yield make_url(root_url).set(database=name).render_as_string(hide_password=False)
        async with root.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        await root.dispose()


async def _insert_legacy_rows(engine: AsyncEngine) -> None:
    statements = _legacy_rows()
    if engine.dialect.name == "postgresql":  # instants written as UTC, whatever the session's zone
        statements = [s.replace(":00'", ":00+00'") for s in statements]
    async with engine.begin() as conn:
        for statement in statements:
            await conn.execute(text(statement))


def _legacy_rows() -> list[str]:
    statements = [
        f"""INSERT INTO flights (id, flight_number, service_date, origin, destination,
            departure_at, arrival_at, status, actual_departure_at, actual_arrival_at,
            delay_minutes, created_at, updated_at)
            VALUES ('f1', 'FD1', '2026-03-03', 'JFK', 'LHR', '{DEPARTS}', '{ARRIVES}',
            'arrived', '2026-03-04 01:47:00', '2026-03-04 08:21:00', 17, '{NOW}', '{NOW}')""",
        f"""INSERT INTO flights (id, flight_number, service_date, origin, destination,
            departure_at, arrival_at, status, delay_minutes, created_at, updated_at)
            VALUES ('f2', 'FD2', '2026-03-05', 'LHR', 'CDG', '2026-03-05 09:00:00',
            '2026-03-05 10:15:00', 'scheduled', 0, '{NOW}', '{NOW}')""",
        f"""INSERT INTO bookings (id, pnr, user_id, status, cabin, total_amount, currency,
            hold_expires_at, created_at, updated_at, refund_amount)
            VALUES ('b1', 'ABCDEF', 'u1', 'cancelled', 'economy', 30001, 'USD', '{NOW}',
            '{NOW}', '{NOW}', 15000)""",
    ]
    for position, (flight, origin, destination, departs, fare) in enumerate(
        [("f1", "JFK", "LHR", DEPARTS, 10000), ("f2", "LHR", "CDG", "2026-03-05 09:00:00", 5000)]
    ):
        statements.append(
            f"""INSERT INTO booking_segments (id, booking_id, position, flight_id,
                flight_number, origin, destination, departure_at, arrival_at, fare_amount,
                fare_currency, seats)
                VALUES ('s{position}', 'b1', {position}, '{flight}', 'FD{position + 1}',
                '{origin}', '{destination}', '{departs}', '{departs}', {fare}, 'USD',
                '[null, null]')"""
        )
    for position in range(2):
        statements.append(
            f"""INSERT INTO booking_passengers (id, booking_id, position, first_name, last_name,
                date_of_birth) VALUES ('p{position}', 'b1', {position}, 'A', 'B', 'x')"""
        )
    statements.append(
        f"""INSERT INTO payments (id, booking_id, user_id, pnr, amount, currency, status,
            method_type, gateway, refunded_amount, created_at, updated_at)
            VALUES ('pay1', 'b1', 'u1', 'ABCDEF', 30000, 'USD', 'partially_refunded', 'card',
            'sandbox', 15001, '{NOW}', '{NOW}')"""
    )
    return statements


async def test_0009_backfills_what_reports_need(database_url: str) -> None:
    settings = make_settings(database_url)
    config = alembic_config(settings)
    await asyncio.to_thread(command.upgrade, config, BEFORE_0009)
    engine = create_engine(settings)
    try:
        await _insert_legacy_rows(engine)
        await asyncio.to_thread(command.upgrade, config, "head")
        async with engine.connect() as conn:
            flights = (
                await conn.execute(
                    text(
                        "SELECT id, distance_km, departure_delay_minutes, arrival_delay_minutes"
                        " FROM flights ORDER BY id"
                    )
                )
            ).all()
            segments = (
                await conn.execute(
                    text("SELECT service_date, outcome FROM booking_segments ORDER BY position")
                )
            ).all()
            paid = (
                await conn.execute(
                    text(
                        "SELECT position, flight_id, service_date, cabin, passengers, distance_km,"
                        " currency, amount, captured_amount, refunded_amount"
                        " FROM payment_segments ORDER BY position"
                    )
                )
            ).all()
    finally:
        await engine.dispose()
    assert [tuple(row) for row in flights] == [("f1", 5540, 17, -9), ("f2", 347, None, None)]
    assert [(_day(row[0]), row[1]) for row in segments] == [
        (date(2026, 3, 3), "cancelled"),  # cancelled before reasons were kept
        (date(2026, 3, 5), "cancelled"),
    ]
    assert [(*row[:2], _day(row[2]), *row[3:]) for row in paid] == [
        (0, "f1", date(2026, 3, 3), "economy", 2, 5540, "USD", 20000, 20000, 10001),
        (1, "f2", date(2026, 3, 5), "economy", 2, 347, "USD", 10000, 10000, 5000),
    ]


def _day(value: object) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))
