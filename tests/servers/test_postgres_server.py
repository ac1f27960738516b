"""End-to-end check of the throwaway PostgreSQL helper (real server, real asyncpg)."""

from __future__ import annotations

import asyncio
import time

import asyncpg
import pytest

from .postgres import PostgresServer, running_postgres, running_standby, wait_for_replica
from .process import port_accepts


async def _round_trip(server: PostgresServer, database: str) -> tuple[str, list[str]]:
    conn = await asyncpg.connect(
        host=server.host, port=server.port, user=server.user, database=database
    )
    try:
        version = await conn.fetchval("select version()")
        await conn.execute("create table flights (id serial primary key, code text not null)")
        await conn.executemany("insert into flights (code) values ($1)", [("FD1",), ("FD2",)])
        rows = await conn.fetch("select code from flights order by id")
        return version, [row["code"] for row in rows]
    finally:
        await conn.close()


def test_postgres_server_lifecycle() -> None:
    started = time.perf_counter()
    with running_postgres() as server:
        startup = time.perf_counter() - started
        print(f"postgres start-up: {startup:.2f}s")  # visible with -s; useful in CI logs
        assert server.host == "127.0.0.1"
        assert port_accepts(server.host, server.port)
        assert server.url() == f"postgresql+asyncpg://postgres@127.0.0.1:{server.port}/postgres"

        version, codes = asyncio.run(_round_trip(server, "postgres"))
        assert version.startswith("PostgreSQL ")
        assert codes == ["FD1", "FD2"]

        url = server.create_database("flightdeck_extra")
        assert url == server.url("flightdeck_extra")
        _, codes = asyncio.run(_round_trip(server, "flightdeck_extra"))
        assert codes == ["FD1", "FD2"]

        data_dir = server.data_dir
        assert data_dir.is_dir()

    assert not port_accepts(server.host, server.port)
    assert not data_dir.exists()
    server.stop()  # idempotent


def test_a_standby_follows_its_primary_and_refuses_writes() -> None:
    async def scenario(primary: PostgresServer, standby: PostgresServer) -> None:
        primary_conn = await asyncpg.connect(host=primary.host, port=primary.port, user="postgres")
        standby_conn = await asyncpg.connect(host=standby.host, port=standby.port, user="postgres")
        try:
            assert await standby_conn.fetchval("SELECT pg_is_in_recovery()") is True
            await primary_conn.execute("CREATE TABLE replicated (n int)")
            await primary_conn.execute("INSERT INTO replicated VALUES (7)")
            await wait_for_replica(primary.url(), standby.url())
            assert await standby_conn.fetchval("SELECT n FROM replicated") == 7
            with pytest.raises(asyncpg.ReadOnlySQLTransactionError):
                await standby_conn.execute("INSERT INTO replicated VALUES (8)")
        finally:
            await primary_conn.close()
            await standby_conn.close()

    with running_postgres() as primary, running_standby(primary) as standby:
        assert standby.port != primary.port
        asyncio.run(scenario(primary, standby))
