"""A large SSIM import leaves PostgreSQL's planner statistics up to date: searches right after
it are planned on the rows it wrote, not on the counts of the tables before it."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import date

import pytest
import pytest_asyncio
from sqlalchemy import make_url
from tests.conftest import make_settings
from tests.flights.ssim_season import SeasonSpec, season_lines
from tests.servers.postgres import fetch_rows

from flightdeck.flights.schedules.importer import (
    ANALYZE_AFTER_FLIGHTS,
    ImportOptions,
    import_ssim_lines,
)
from flightdeck.flights.schedules.ssim.legs import Fares
from flightdeck.platform.db import create_engine, create_sessionmaker
from flightdeck.platform.migrations import upgrade_database

pytestmark = pytest.mark.asyncio(loop_scope="session")


@pytest_asyncio.fixture(loop_scope="session")
async def fresh_postgres(postgres_root_url: str) -> AsyncIterator[str]:
    """A migrated PostgreSQL database of its own: no other test's rows, no statistics yet."""
    root = make_url(postgres_root_url)
    admin = root.render_as_string(hide_password=False)
    name = f"flightdeck_import_{uuid.uuid4().hex[:10]}"
    await fetch_rows(admin, f'CREATE DATABASE "{name}"')
    url = root.set(database=name).render_as_string(hide_password=False)
    try:
        await asyncio.to_thread(upgrade_database, make_settings(url))
        yield url
    finally:
        await fetch_rows(admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def _import(url: str, spec: SeasonSpec) -> int:
    engine = create_engine(make_settings(url))
    try:
        async with create_sessionmaker(engine)() as session, session.begin():
            options = ImportOptions(fares=Fares(10_000, "USD"))
            result = await import_ssim_lines(session, season_lines(spec), None, options)
    finally:
        await engine.dispose()
    return result.flights_created


async def _row_estimates(url: str) -> dict[str, float]:
    rows = await fetch_rows(
        url,
        "SELECT relname, reltuples FROM pg_class "
        "WHERE relname IN ('schedules', 'flights', 'flight_cabins')",
    )
    return {row["relname"]: row["reltuples"] for row in rows}


async def test_a_large_import_analyzes_the_tables_it_filled(fresh_postgres: str) -> None:
    created = await _import(
        fresh_postgres, SeasonSpec(first=date(2027, 1, 4), last=date(2027, 6, 27))
    )
    assert created >= ANALYZE_AFTER_FLIGHTS

    [(flights,)] = await fetch_rows(fresh_postgres, "SELECT count(*) FROM flights")
    [(schedules,)] = await fetch_rows(fresh_postgres, "SELECT count(*) FROM schedules")
    estimates = await _row_estimates(fresh_postgres)
    # Never analyzed, a table's estimate is -1 (the planner then assumes a few pages' worth).
    assert estimates["flights"] == flights == created
    assert estimates["schedules"] == schedules
    assert estimates["flight_cabins"] > flights
    columns = await fetch_rows(
        fresh_postgres, "SELECT DISTINCT attname FROM pg_stats WHERE tablename = 'flights'"
    )
    assert {"origin", "destination", "departure_at"} <= {row["attname"] for row in columns}
