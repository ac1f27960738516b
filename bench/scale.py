"""Scale-out benchmark: `make bench-scale`.

Starts a PostgreSQL primary and its streaming standby (pg_basebackup, tests/servers/postgres.py)
and Redis, migrates and seeds the demo data, then runs the deployed shape four times
(tests/deploy/stack.py: each service alone in `flightdeck serve --services <name>` processes,
behind the real nginx gateway): with 1 and with 2 instances each of search and bookings (one
flights instance), first with every read on the primary, then with search reading the replica.

Each configuration is measured for a fixed time with a fixed number of clients:
- searches/s: distinct `GET /search` over the demo routes, the result cache off (every search
  runs its queries: the database's work, not the cache's);
- holds/s: `POST /bookings` for one seat (a hold: the seat counter, the hold, the booking, its
  outbox event; payments are not part of it) on flights of 1000 seats, one client per user.

Then the rows and bytes each flight, booking and user costs in PostgreSQL (for docs/SCALING.md).
Prints the figures, their ratios to one instance, and the load average during each run: other
agents share this 2-core machine, so read the ratios with the load beside them.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import random
import secrets
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.table import Table
from sqlalchemy import text

from flightdeck.platform.db import create_engine, create_sessionmaker
from flightdeck.platform.security.encryption import generate_key_spec
from flightdeck.platform.security.passwords import hash_password
from flightdeck.platform.security.tokens import issue_access_token
from flightdeck.platform.settings import Settings
from flightdeck.users.models import User
from servers import UNREACHED_RATE_LIMITS, cpu_seconds, run_cli

# isort: split
# (servers.py puts the repository root, where `tests` lives, on the path first.)
from tests.deploy.stack import running_stack
from tests.servers.postgres import (
    PostgresServer,
    running_postgres,
    running_standby,
    wait_for_replica,
)
from tests.servers.redis import running_redis

console = Console()
# Demo routes (flightdeck.demo_data): direct ones and ones only connections serve.
ROUTES = (
    ("JFK", "LAX"), ("JFK", "SFO"), ("JFK", "ORD"), ("ORD", "LAX"), ("LAX", "JFK"),
    ("JFK", "MIA"), ("JFK", "LHR"), ("LHR", "JFK"), ("JFK", "FRA"), ("LHR", "AMS"),
    ("SFO", "NRT"), ("ORD", "SFO"),
)  # fmt: skip
FLIGHTS = 40  # of 1000 economy seats each: room for every hold of a run
FLIGHT_NUMBERS = itertools.count(1000)
SIZED_TABLES = {
    "flight": ("flights", "flight_cabins", "flight_status_changes"),
    "booking": ("bookings", "booking_references", "booking_segments", "booking_passengers",
                "inventory_holds", "outbox_events"),
    "user": ("users",),
}  # fmt: skip


def _searches(days: int, seed: int) -> list[dict[str, str]]:
    """Every distinct search over the demo routes and the next `days` days, shuffled."""
    first_day = datetime.now(UTC).date() + timedelta(days=1)
    space = [
        {"origin": origin, "destination": destination, "passengers": str(passengers),
         "date": (first_day + timedelta(days=offset)).isoformat(), "sort": sort}
        for origin, destination in ROUTES
        for offset in range(days)
        for passengers in (1, 2)
        for sort in ("price", "duration", "departure")
    ]  # fmt: skip
    random.Random(seed).shuffle(space)  # noqa: S311 - a reproducible mix, not a secret
    return space


def _postmaster(server: PostgresServer) -> int:
    return int((server.data_dir / "postmaster.pid").read_text().split()[0])


@dataclass
class Run:
    name: str
    instances: int
    replica: bool
    searches_per_second: float = 0.0
    search_errors: int = 0
    holds_per_second: float = 0.0
    hold_errors: int = 0
    load: float = 0.0
    # CPU milliseconds per operation, by tier ("app", "primary", "replica")
    search_cpu_ms: dict[str, float] = field(default_factory=dict)
    hold_cpu_ms: dict[str, float] = field(default_factory=dict)


def _environment(settings: Settings, redis_url: str) -> dict[str, str]:
    return {
        "FLIGHTDECK_DATABASE_URL": settings.database_url,
        "FLIGHTDECK_JWT_SECRET": settings.jwt_secret,
        "FLIGHTDECK_ENCRYPTION_KEYS": settings.encryption_keys,
        "FLIGHTDECK_REDIS_URL": redis_url,
        "FLIGHTDECK_TRUSTED_PROXIES": "127.0.0.1",  # the gateway
        "FLIGHTDECK_SEARCH_CACHE_SECONDS": "0",
        "FLIGHTDECK_HOLD_SWEEP_SECONDS": "0",
        "FLIGHTDECK_LOG_LEVEL": "WARNING",
        "FLIGHTDECK_DATABASE_POOL_SIZE": "10",
        **UNREACHED_RATE_LIMITS,
    }


async def _users(settings: Settings, role: str, count: int) -> list[dict[str, str]]:
    """`count` users stored at once (one password hash) → their bearer headers."""
    password_hash = await asyncio.to_thread(hash_password, secrets.token_urlsafe(16))
    users = [
        User(email=f"{role}-{os.urandom(4).hex()}-{i}@example.com", password_hash=password_hash,
             full_name=f"Bench {role} {i}", role=role)
        for i in range(count)
    ]  # fmt: skip
    engine = create_engine(settings)
    try:
        async with create_sessionmaker(engine)() as session:
            session.add_all(users)
            await session.commit()
    finally:
        await engine.dispose()
    tokens = [issue_access_token(settings, user.id, role)[0] for user in users]
    return [{"Authorization": f"Bearer {token}"} for token in tokens]


async def _flights(http: httpx.AsyncClient, gateway: str, agent: dict[str, str]) -> list[str]:
    departure = (datetime.now(UTC) + timedelta(days=5)).replace(second=0, microsecond=0)
    ids = []
    for _ in range(FLIGHTS):
        body = {
            "flight_number": f"BS{next(FLIGHT_NUMBERS)}",  # unique: one date for all runs
            "origin": "JFK", "destination": "LHR",
            "departure_time": departure.isoformat(),
            "arrival_time": (departure + timedelta(hours=7)).isoformat(),
            "cabins": {"economy": {"seats": 1000, "fare": {"amount": 45000, "currency": "USD"}}},
        }  # fmt: skip
        response = await http.post(f"{gateway}/flights", json=body, headers=agent)
        response.raise_for_status()
        ids.append(response.json()["id"])
    return ids


async def _for_a_while(
    seconds: float, clients: int, request: Callable[[int, int], Any]
) -> tuple[float, int]:
    """Runs `clients` loops of `await request(client, n)` (True: a success) for `seconds`:
    (successes per second, failures)."""
    done = [0, 0]
    deadline = time.perf_counter() + seconds

    async def client(index: int) -> None:
        for n in itertools.count():
            if time.perf_counter() >= deadline:
                return
            done[0 if await request(index, n) else 1] += 1

    started = time.perf_counter()
    await asyncio.gather(*(client(i) for i in range(clients)))
    return done[0] / (time.perf_counter() - started), done[1]


async def _timed(
    tiers: Mapping[str, list[int]],
    seconds: float,
    clients: int,
    request: Callable[[int, int], Any],
) -> tuple[float, int, dict[str, float]]:
    """`_for_a_while`, and the CPU milliseconds each tier spent per success."""
    before = {tier: cpu_seconds(pids) for tier, pids in tiers.items()}
    started = time.perf_counter()
    rate, failures = await _for_a_while(seconds, clients, request)
    successes = max(rate * (time.perf_counter() - started), 1)
    cpu = {t: (cpu_seconds(p) - before[t]) * 1000 / successes for t, p in tiers.items()}
    return rate, failures, cpu


async def _measure(
    run: Run, gateway: str, settings: Settings, args: argparse.Namespace,
    tiers: Mapping[str, list[int]],
) -> None:  # fmt: skip
    limits = httpx.Limits(max_connections=args.clients * 2)
    async with httpx.AsyncClient(timeout=60, limits=limits) as http:
        [agent] = await _users(settings, "agent", 1)
        flights = await _flights(http, gateway, agent)
        passengers = await _users(settings, "passenger", args.clients)
        queries = _searches(args.days, seed=len(run.name))
        await http.get(f"{gateway}/search", params=queries[-1])  # untimed: pools warm up

        async def search(client: int, n: int) -> bool:
            query = queries[(client * 7919 + n) % len(queries)]
            return (await http.get(f"{gateway}/search", params=query)).status_code == 200

        async def hold(client: int, n: int) -> bool:
            booking = {
                "segments": [flights[(client + n) % len(flights)]], "cabin": "economy",
                "passengers": [{"first_name": "Ada", "last_name": "Lovelace",
                                "date_of_birth": "1985-12-10"}],
            }  # fmt: skip
            response = await http.post(f"{gateway}/bookings", json=booking,
                                       headers=passengers[client])  # fmt: skip
            return response.status_code == 201

        load_before = os.getloadavg()[0]
        run.searches_per_second, run.search_errors, run.search_cpu_ms = await _timed(
            tiers, args.seconds, args.clients, search
        )
        run.holds_per_second, run.hold_errors, run.hold_cpu_ms = await _timed(
            tiers, args.seconds, args.clients, hold
        )
        run.load = (load_before + os.getloadavg()[0]) / 2


async def _sizes(settings: Settings) -> dict[str, tuple[int, int, int]]:
    """Per kind (flight, booking, user), over its tables: (rows, bytes of the rows as stored:
    each row's size plus its 4-byte line pointer, bytes of the tables with their indexes)."""
    engine = create_engine(settings)
    found = {}
    total_size = text(
        "SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0) FROM pg_class c "
        "LEFT JOIN pg_inherits i ON i.inhrelid = c.oid "
        "WHERE c.oid = to_regclass(:t) OR i.inhparent = to_regclass(:t)"
    )
    try:
        async with engine.connect() as conn:
            for kind, tables in SIZED_TABLES.items():
                rows = row_bytes = size = 0
                for table in tables:  # names from SIZED_TABLES, not input
                    measured = (
                        f"SELECT count(*), coalesce(sum(pg_column_size(t.*) + 4), 0) FROM {table} t"  # noqa: S608
                    )
                    count, width = (await conn.execute(text(measured))).one()
                    rows, row_bytes = rows + int(count), row_bytes + int(width)
                    size += int(await conn.scalar(total_size, {"t": table}) or 0)
                found[kind] = (rows, row_bytes, size)
    finally:
        await engine.dispose()
    return found


def _report(runs: list[Run], sizes: Mapping[str, tuple[int, int, int]], counts: Mapping[str, int],
            args: argparse.Namespace) -> None:  # fmt: skip
    table = Table(title=f"Behind nginx, {args.clients} clients, {args.seconds:.0f} s per figure, "
                  f"{os.cpu_count()} cores")  # fmt: skip
    columns = ("configuration", "searches/s", "ratio", "holds/s", "ratio", "errors", "load avg")
    for column in columns:
        table.add_column(column, justify="left" if column == "configuration" else "right")
    base = {run.replica: run for run in runs if run.instances == 1}
    for run in runs:
        one = base[run.replica]
        table.add_row(
            run.name, f"{run.searches_per_second:.0f}",
            f"{run.searches_per_second / max(one.searches_per_second, 1e-9):.2f}",
            f"{run.holds_per_second:.0f}",
            f"{run.holds_per_second / max(one.holds_per_second, 1e-9):.2f}",
            str(run.search_errors + run.hold_errors), f"{run.load:.1f}",
        )  # fmt: skip
    console.print(table)
    cpu = Table(title="CPU milliseconds per operation (all instances; PostgreSQL primary, replica)")
    for column in ("configuration", "search: app", "primary", "replica", "hold: app", "primary"):
        cpu.add_column(column, justify="left" if column == "configuration" else "right")
    for run in runs:
        searched = (f"{run.search_cpu_ms[t]:.1f}" for t in ("app", "primary", "replica"))
        held = (f"{run.hold_cpu_ms[t]:.1f}" for t in ("app", "primary"))
        cpu.add_row(run.name, *searched, *held)
    console.print(cpu)
    sized = Table(title="PostgreSQL per object, after the runs (the last column counts whole "
                  "8 kB pages and indexes: an upper bound on a small data set)")  # fmt: skip
    for column in ("per", "objects", "rows each", "row bytes each", "with indexes, pages each"):
        sized.add_column(column, justify="left" if column == "per" else "right")
    for kind, (rows, row_bytes, size) in sizes.items():
        count = max(counts[kind], 1)
        sized.add_row(kind, str(counts[kind]), f"{rows / count:.1f}", f"{row_bytes / count:.0f}",
                      f"{size / count:.0f}")  # fmt: skip
    console.print(sized)


async def _counts(settings: Settings) -> dict[str, int]:
    engine = create_engine(settings)
    try:
        async with engine.connect() as conn:
            return {
                kind: int(await conn.scalar(text(f"SELECT count(*) FROM {tables[0]}")) or 0)  # noqa: S608
                for kind, tables in SIZED_TABLES.items()
            }
    finally:
        await engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10, help="per figure")
    parser.add_argument("--clients", type=int, default=32, help="concurrent clients")
    parser.add_argument("--days", type=int, default=14, help="days of demo schedules")
    args = parser.parse_args()
    runs = [
        Run(f"{n} search + {n} bookings{', search on replica' if replica else ''}", n, replica)
        for replica in (False, True)
        for n in (1, 2)
    ]
    with (
        tempfile.TemporaryDirectory(prefix="flightdeck-bench-scale-") as tmp,
        running_postgres() as primary,
        running_standby(primary) as standby,
        running_redis() as redis,
    ):
        workdir = Path(tmp)
        settings = Settings(
            database_url=primary.create_database("bench_scale"),
            jwt_secret=secrets.token_hex(32),
            encryption_keys=generate_key_spec("bench"),
        )
        replica_url = standby.url("bench_scale")
        env = _environment(settings, redis.url())
        with console.status("Migrating and seeding the demo data …"):
            run_cli("migrate", settings=env, cwd=workdir)
            run_cli("seed", "--days", str(args.days), settings=env, cwd=workdir)
            asyncio.run(wait_for_replica(settings.database_url, replica_url))
        for index, run in enumerate(runs):
            run_env = env | (
                {"FLIGHTDECK_DATABASE_REPLICA_URL": replica_url} if run.replica else {}
            )
            layout = {"flights": 1, "search": run.instances, "bookings": run.instances}
            run_dir = workdir / f"run{index}"
            run_dir.mkdir()
            with (
                console.status(f"{run.name}: starting, then measuring …"),
                running_stack(run_env, layout, run_dir) as stack,
            ):
                tiers = {
                    "app": [p._process.pid for ps in stack.instances.values() for p in ps
                            if p._process is not None],
                    "primary": [_postmaster(primary)],
                    "replica": [_postmaster(standby)],
                }  # fmt: skip
                asyncio.run(_measure(run, stack.gateway, settings, args, tiers))
            errors = run.search_errors + run.hold_errors
            console.print(f"{run.name}: {run.searches_per_second:.0f} searches/s, "
                          f"{run.holds_per_second:.0f} holds/s, {errors} errors, "
                          f"load {run.load:.1f}")  # fmt: skip
        sizes = asyncio.run(_sizes(settings))
        counts = asyncio.run(_counts(settings))
    _report(runs, sizes, counts, args)


if __name__ == "__main__":
    main()
