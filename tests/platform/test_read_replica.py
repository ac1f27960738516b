"""The read replica (platform/replica.py) against a real streaming standby of a real primary
(`pg_basebackup -R -X stream`, tests/servers/postgres.py): flight listings, seat maps and search
read the replica, a read of one's own write and every write use the primary, and reads go to the
primary while the replica is unreachable or lagging, counted, with no error. A test that needs
the replica to have seen a write waits for its replay position, never for a time."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import asyncpg
import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from prometheus_client import REGISTRY
from pydantic import ValidationError
from sqlalchemy import event
from tests.conftest import create_user, make_settings
from tests.flights.factories import create_flight
from tests.platform.events.support import eventually
from tests.servers.postgres import PostgresServer, wait_for_replica

from flightdeck.app import create_app
from flightdeck.platform.cache_invalidation import invalidate_again_after, invalidate_tags
from flightdeck.platform.clock import utcnow
from flightdeck.platform.migrations import upgrade_database
from flightdeck.platform.replica import parse_lsn
from flightdeck.platform.settings import Settings

Servers = tuple[PostgresServer, PostgresServer]


@pytest.fixture(scope="module")
def replica_settings(replicated_postgres: Servers) -> Iterator[Settings]:
    """Settings on a database of the replicated pair, migrated on the primary."""
    primary, standby = replicated_postgres
    name = f"replica_{os.urandom(3).hex()}"
    settings = make_settings(primary.create_database(name)).model_copy(
        update={
            "database_replica_url": standby.url(name),
            # Generous unless a test is about lag: a loaded machine must not make it lag.
            "database_replica_max_lag_seconds": 60.0,
            "database_replica_check_seconds": 0.05,
            "database_replica_retry_seconds": 0.2,
        }
    )
    upgrade_database(settings)
    yield settings


@asynccontextmanager
async def served_app(settings: Settings, **changes: Any) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings.model_copy(update=changes))
    transport = httpx.ASGITransport(app=app, client=("203.0.113.40", 40000))
    async with (
        LifespanManager(app),
        httpx.AsyncClient(transport=transport, base_url="http://testserver") as http,
    ):
        http.app = app  # type: ignore[attr-defined]
        yield http


def app_of(http: httpx.AsyncClient) -> FastAPI:
    app: FastAPI = http.app  # type: ignore[attr-defined]
    return app


def reads(target: str, reason: str) -> float:
    labels = {"target": target, "reason": reason}
    return REGISTRY.get_sample_value("flightdeck_replica_reads_total", labels) or 0.0


async def replay_paused(standby: PostgresServer, paused: bool) -> None:
    conn = await asyncpg.connect(host=standby.host, port=standby.port, user=standby.user)
    try:
        await conn.execute(f"SELECT pg_wal_replay_{'pause' if paused else 'resume'}()")
    finally:
        await conn.close()


def departing(days: int) -> dict[str, str]:
    departure = (utcnow() + timedelta(days=days)).replace(second=0, microsecond=0)
    return {
        "departure_time": departure.isoformat(),
        "arrival_time": (departure + timedelta(hours=7)).isoformat(),
    }


def flight_number() -> str:
    return f"RP{int.from_bytes(os.urandom(2)) % 9000 + 1000}"


async def listed(http: httpx.AsyncClient, number: str) -> bool:
    response = await http.get("/flights", params={"flight_number": number})
    assert response.status_code == 200, response.text
    return bool(response.json()["items"])


async def test_listings_read_the_replica_and_ones_own_write_the_primary(
    replica_settings: Settings, replicated_postgres: Servers
) -> None:
    _, standby = replicated_postgres
    async with served_app(replica_settings) as http:
        agent = await create_user(app_of(http), "agent")
        seen = await create_flight(
            http, agent.headers, flight_number=flight_number(), **departing(3)
        )
        await wait_for_replica(replica_settings.database_url, replica_settings.database_replica_url)
        await replay_paused(standby, True)
        try:
            unseen = await create_flight(
                http, agent.headers, flight_number=flight_number(), **departing(4)
            )
            # The replica has not replayed the second flight: listings, seat maps and search
            # (reading it) do not show it yet; the flight itself (a read of one's own write,
            # on the primary) does.
            assert await listed(http, seen["flight_number"])
            assert not await listed(http, unseen["flight_number"])
            assert (await http.get(f"/flights/{unseen['id']}/seats")).status_code == 404
            assert (await http.get(f"/flights/{unseen['id']}")).status_code == 200
            search = await http.get(
                "/search",
                params={
                    "origin": "JFK",
                    "destination": "LHR",
                    "date": unseen["departure_time"][:10],
                },
            )
            assert search.status_code == 200 and search.json()["itineraries"] == []
        finally:
            await replay_paused(standby, False)
        await wait_for_replica(replica_settings.database_url, replica_settings.database_replica_url)
        assert await listed(http, unseen["flight_number"])
        assert (await http.get(f"/flights/{unseen['id']}/seats")).status_code == 200


async def test_an_unreachable_replica_sends_reads_to_the_primary_without_an_error(
    replica_settings: Settings, replicated_postgres: Servers
) -> None:
    _, standby = replicated_postgres
    async with served_app(replica_settings) as http:
        agent = await create_user(app_of(http), "agent")
        # Whoever notices first, a read or the monitor: "unreachable", then "down" until retry.
        before = reads("primary", "unreachable") + reads("primary", "down")
        standby.stop()
        try:
            flight = await create_flight(
                http, agent.headers, flight_number=flight_number(), **departing(5)
            )
            assert await listed(http, flight["flight_number"])  # from the primary, fresh
            assert (await http.get(f"/flights/{flight['id']}/seats")).status_code == 200
            ready = await http.get("/readyz")
        finally:
            standby.restart()
        assert reads("primary", "unreachable") + reads("primary", "down") >= before + 2
        assert ready.status_code == 200
        assert ready.json()["degraded"]["replica"].startswith("error")
        # Back: the monitor finds it answering again, and reads return to it.
        await wait_for_replica(replica_settings.database_url, replica_settings.database_replica_url)
        await eventually(lambda: app_of(http).state.reads._avoid_reason() is None, 30)
        on_replica = reads("replica", "ok")
        assert await listed(http, flight["flight_number"])
        assert reads("replica", "ok") == on_replica + 1


async def test_a_search_checks_out_one_connection_of_the_replica_or_of_the_primary_when_down(
    replica_settings: Settings, replicated_postgres: Servers
) -> None:
    """An uncached search reads on one checkout: the replica's (its checkout is the test of
    whether it answers), or the primary's alone once the replica does not answer."""
    _, standby = replicated_postgres
    async with served_app(replica_settings, search_cache_seconds=0) as http:
        reads_db = app_of(http).state.reads
        searching = asyncio.current_task()
        checkouts = {"replica": 0, "primary": 0}
        for name in checkouts:
            pool = getattr(reads_db, name).sync_engine.pool

            def count(*_: Any, name: str = name) -> None:
                # The search's own (the app runs in this task), not the background workers'.
                if asyncio.current_task() is searching:
                    checkouts[name] += 1

            event.listen(pool, "checkout", count)
        query = {"origin": "JFK", "destination": "LHR", "date": departing(7)["departure_time"][:10]}

        async def searched() -> dict[str, int]:
            before = dict(checkouts)
            response = await http.get("/search", params=query)
            assert response.status_code == 200 and response.json()["itineraries"] == []
            return {name: checkouts[name] - before[name] for name in checkouts}

        await eventually(lambda: reads_db._avoid_reason() is None, 30)
        assert await searched() == {"replica": 1, "primary": 0}
        standby.stop()
        try:
            unreachable = reads("primary", "unreachable")
            assert await searched() == {"replica": 0, "primary": 1}  # its checkout failed
            assert reads("primary", "unreachable") == unreachable + 1
        finally:
            standby.restart()
        await wait_for_replica(replica_settings.database_url, replica_settings.database_replica_url)


async def test_a_lagging_replica_sends_reads_to_the_primary(
    replica_settings: Settings, replicated_postgres: Servers
) -> None:
    _, standby = replicated_postgres
    async with served_app(replica_settings, database_replica_max_lag_seconds=0.3) as http:
        agent = await create_user(app_of(http), "agent")
        read_db = app_of(http).state.reads
        await replay_paused(standby, True)
        try:
            flight = await create_flight(
                http, agent.headers, flight_number=flight_number(), **departing(6)
            )
            # The monitor's verdict, not a guess at when it comes.
            await eventually(lambda: read_db.lagging, 30)
            before = reads("primary", "lagging")
            assert await listed(http, flight["flight_number"])  # the replica has not got it
            assert reads("primary", "lagging") == before + 1
            lag = REGISTRY.get_sample_value("flightdeck_replica_lag_seconds") or 0.0
            assert lag > 0.3
        finally:
            await replay_paused(standby, False)
        await eventually(lambda: not read_db.lagging, 30)


async def test_after_a_commit_the_cache_is_invalidated_again_once_replicas_caught_up(
    replica_settings: Settings,
) -> None:
    # A search that read the replica before it replayed a change may cache the old answer
    # after the commit's invalidation; the repeat drops it.
    async with served_app(replica_settings) as http:
        app = app_of(http)
        cache = app.state.cache
        tags = ["route:JFK-LHR"]
        previous = invalidate_again_after(0.2)
        try:
            async with app.state.sessionmaker() as session, session.begin():
                await invalidate_tags(tags, session=session)
                in_transaction = await cache.tagged_key("search", tags)
            keys = [in_transaction]
            async with asyncio.timeout(10):
                # Once right after the commit, then once more after the replicas' lag.
                while len(keys) < 3:
                    key = await cache.tagged_key("search", tags)
                    if key != keys[-1]:
                        keys.append(key)
                    await asyncio.sleep(0.01)
        finally:
            invalidate_again_after(previous)
        assert len(set(keys)) == 3


def test_a_replica_needs_postgresql() -> None:
    with pytest.raises(ValidationError, match="replica"):
        Settings(
            database_url="sqlite+aiosqlite:///x.db",
            database_replica_url="postgresql://replica/flightdeck",
        )
    replica = Settings(
        database_url="postgres://primary/flightdeck",
        database_replica_url="postgres://replica/flightdeck",
    )
    assert replica.database_replica_url == "postgresql+asyncpg://replica/flightdeck"


def test_wal_positions_compare_as_byte_offsets() -> None:
    assert parse_lsn("0/16B3748") == 0x16B3748
    assert parse_lsn("16/B374D848") > parse_lsn("15/FFFFFFFF")
