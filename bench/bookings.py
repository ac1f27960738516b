"""Hold load benchmark: `make bench-bookings` (POST /bookings by 200 concurrent clients).

For each database (the embedded SQLite default, and a throwaway PostgreSQL) and each worker
count (`--workers 1,2`): `flightdeck migrate`, a seeded network of bookable flights written
in bulk (network.py; partly sold already), a few passengers (`flightdeck create-user`), and
then, servers on free ports one at a time (servers.py):

1. the floor (a FastAPI hello-world, same uvicorn and workers) under wrk `GET`, for the ratio;
2. FlightDeck: wrk holds seats with `POST /bookings` over `--connections` (200) keep-alive
   connections for `--duration` (30) seconds: one or two passengers on one flight, a fifth of
   the requests on a handful of nearly full flights that sell out (409 `seats_unavailable`
   then, as it should); with `--idempotency-keys`, each with an `Idempotency-Key` of its
   own, as the app sends; with `--chosen-seats`, each passenger choosing a seat (each hold a
   transaction of several statements). At the same time a second wrk reads one booking
   with `GET /bookings/{id}` over `--readers` connections (1), each waiting `--read-pause`
   ms (10) after an answer before the next: the booking path's latency under that load. A
   probe, not a second load: closed-loop readers took the CPU the holds left (one such
   reader sent 92-365 GET/s as the write slots changed; docs/ARCHITECTURE.md, "Write
   admission").

Prints holds/s (201 answers), p50, p99, the 409s, the GET rate and p50/p99, the ratio to the
floor and the server's CPU per request (its processes' CPU time over the requests served,
holds and reads: what a request costs, however busy the machine), and on PostgreSQL the
database's (its server and every backend). `--worker-cores 0.5` caps each worker at half a
core (bench/cpu_cap.py: a cgroup around the floor and the server; the database and wrk
outside it), so that one worker against two shows whether holds follow the workers on a
machine with fewer cores than they, the database and wrk need. Then it checks in SQL that no
seat was sold twice: every cabin's `sold` is within its capacity and equals what it had before
plus the seats held by the bookings written (`inventory_holds` and the bookings' passengers
agree), and every 201 left a booking.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import sqlite3
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from cpu_cap import capped
from network import build_network
from rich.console import Console
from rich.table import Table
from wrk import Request, WrkResult, finish_wrk, load_average, run_wrk, start_wrk

from flightdeck.platform.security.encryption import generate_key_spec
from servers import (
    AppProcess,
    cpu_seconds,
    database_pids,
    postgres_database,
    profiling,
    run_cli,
    running_flightdeck,
    running_floor,
    sqlite_settings,
)

console = Console(width=150)
PASSWORD = "bench-password-123"  # noqa: S105 - throwaway bench users
USERS = 4
HOT_FLIGHTS = 8
HOT_SHARE = 0.2
REQUESTS = 4_000  # distinct hold requests wrk cycles through
# The economy seats `--chosen-seats` picks from (network.py's A321: business rows 1-6).
_CHOSEN_SEATS = [f"{row}{letter}" for row in range(14, 32) for letter in "ABCDEF"]


@dataclass(frozen=True)
class Run:
    database: str
    workers: int
    floor: WrkResult
    holds: WrkResult
    reads: WrkResult
    load: float
    bookings_written: int
    oversold_cabins: int
    mismatched_cabins: int
    cpu_ms_per_request: float
    database_ms_per_request: float | None  # PostgreSQL's processes; None on SQLite


# --- SQL against the bench database (outside FlightDeck) ---------------------------------


async def _pg_rows(url: str, sql: str) -> list[tuple[Any, ...]]:
    connection = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        return [tuple(row) for row in await connection.fetch(sql)]
    finally:
        await connection.close()


def database_rows(url: str, sql: str) -> list[tuple[Any, ...]]:
    if url.startswith("sqlite"):
        with contextlib.closing(sqlite3.connect(url.split(":///", 1)[1])) as db:
            return list(db.execute(sql))
    return asyncio.run(_pg_rows(url, sql))


def _economy_counters(url: str) -> dict[str, tuple[int, int]]:
    """flight id -> (capacity, sold) of its economy cabin."""
    rows = database_rows(
        url, "SELECT flight_id, capacity, sold FROM flight_cabins WHERE cabin = 'economy'"
    )
    return {flight_id: (capacity, sold) for flight_id, capacity, sold in rows}


def _oversell_check(url: str, before: dict[str, tuple[int, int]]) -> tuple[int, int, int]:
    """(bookings written, cabins sold past capacity, cabins whose counter disagrees with the
    holds or the bookings' passengers)."""
    after = _economy_counters(url)
    held = dict(
        database_rows(
            url,
            "SELECT flight_id, SUM(quantity) FROM inventory_holds WHERE cabin = 'economy' "
            "GROUP BY flight_id",
        )
    )
    booked = dict(
        database_rows(
            url,
            "SELECT s.flight_id, SUM(p.passengers) FROM booking_segments s JOIN "
            "(SELECT booking_id, COUNT(*) AS passengers FROM booking_passengers "
            "GROUP BY booking_id) p ON p.booking_id = s.booking_id GROUP BY s.flight_id",
        )
    )
    [(bookings,)] = database_rows(url, "SELECT COUNT(*) FROM bookings")
    oversold = sum(1 for capacity, sold in after.values() if sold > capacity)
    mismatched = sum(
        1
        for flight_id, (_, sold) in after.items()
        if not (
            sold - before[flight_id][1]
            == int(held.get(flight_id, 0))
            == int(booked.get(flight_id, 0))
        )
    )
    return int(bookings), oversold, mismatched


# --- the load ------------------------------------------------------------------------------


def traveller(rng: random.Random, index: int) -> dict[str, str]:
    return {
        "first_name": rng.choice(("Ada", "Grace", "Alan", "Edsger", "Barbara", "Ken")),
        "last_name": rng.choice(("Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov")),
        "date_of_birth": f"19{rng.randrange(50, 99)}-0{rng.randrange(1, 9)}-1{index}",
        "passport_number": f"P{rng.randrange(10**7, 10**8)}",
    }


def _hold_requests(
    counters: dict[str, tuple[int, int]], tokens: list[str], seed: int, seats: bool = False
) -> tuple[list[Request], list[str]]:
    """REQUESTS hold requests (one flight, one or two passengers) and the hot flights: the
    fullest ones, which a fifth of the requests ask for so that they sell out. `seats`: each
    passenger chooses an economy seat (rows 14-31 of the network's A321s), so each hold is
    a transaction of several statements (docs/ARCHITECTURE.md, "The hold path"); five times
    as many requests then, each flight's seats chosen in turn, so that a hold is refused
    for its seat only on a flight whose seats have all been asked for already."""
    rng = random.Random(seed)  # noqa: S311 - a reproducible mix, not a secret
    by_room = sorted(counters, key=lambda f: counters[f][0] - counters[f][1])
    hot = by_room[:HOT_FLIGHTS]
    roomy = by_room[HOT_FLIGHTS:]
    requests = []
    chosen: dict[str, int] = {}  # seats chosen so far, by flight
    for _ in range(REQUESTS * (5 if seats else 1)):
        flight = rng.choice(hot) if rng.random() < HOT_SHARE else rng.choice(roomy)
        passengers = [traveller(rng, i) for i in range(rng.choice((1, 1, 2)))]
        for passenger in passengers if seats else ():
            index = chosen.get(flight, 0) % len(_CHOSEN_SEATS)
            passenger["seat"] = _CHOSEN_SEATS[index]
            chosen[flight] = index + 1
        body = {"segments": [flight], "cabin": "economy", "passengers": passengers}
        headers = (
            ("Authorization", f"Bearer {rng.choice(tokens)}"),
            ("Content-Type", "application/json"),
        )
        requests.append(Request("/bookings", "POST", headers, json.dumps(body)))
    return requests, hot


async def passenger_tokens(base_url: str) -> list[str]:
    async with httpx.AsyncClient(base_url=base_url, timeout=60) as http:
        tokens = []
        for i in range(USERS):
            response = await http.post(
                "/login", json={"email": f"passenger{i}@bench.example.com", "password": PASSWORD}
            )
            response.raise_for_status()
            tokens.append(response.json()["access_token"])
        return tokens


async def _some_bookings(base_url: str, holds: list[Request], count: int) -> list[Request]:
    """Makes `count` bookings before the load; GET requests for them, each by its owner."""
    reads = []
    async with httpx.AsyncClient(base_url=base_url, timeout=60) as http:
        for hold in holds[-count:]:
            headers = dict(hold.headers)
            response = await http.post("/bookings", content=hold.body, headers=headers)
            if response.status_code == 201:
                path = f"/bookings/{response.json()['id']}"
                reads.append(Request(path, headers=(("Authorization", headers["Authorization"]),)))
    if not reads:
        raise SystemExit("no booking could be made before the load")
    return reads


def booking_settings() -> dict[str, str]:
    """What a server taking bookings needs beyond its database: a token secret, keys for
    personal data, tokens that outlast the run."""
    return {
        "FLIGHTDECK_JWT_SECRET": os.urandom(32).hex(),
        "FLIGHTDECK_ENCRYPTION_KEYS": generate_key_spec("bench"),
        "FLIGHTDECK_ACCESS_TOKEN_MINUTES": "60",
    }


def create_passengers(settings: dict[str, str], workdir: Path) -> None:
    """`USERS` passengers (`flightdeck create-user`), who `passenger_tokens` signs in."""
    for i in range(USERS):
        run_cli(
            "create-user", "--email", f"passenger{i}@bench.example.com",
            "--password", PASSWORD, settings=settings, cwd=workdir,
        )  # fmt: skip


@contextlib.contextmanager
def _database(name: str, workdir: Path, args: argparse.Namespace) -> Iterator[dict[str, str]]:
    common = booking_settings()
    chosen = {
        "FLIGHTDECK_DATABASE_POOL_SIZE": args.pool_size,
        "FLIGHTDECK_DATABASE_READ_RESERVE": args.read_reserve,
        "FLIGHTDECK_DATABASE_BRIEF_WRITE_SLOTS": args.brief_slots,
    }
    common |= {setting: str(value) for setting, value in chosen.items() if value is not None}
    if name == "sqlite":
        yield sqlite_settings(workdir) | common
    elif name == "postgres":
        with postgres_database() as settings:
            yield settings | common
    else:
        raise SystemExit(f"unknown database {name!r}")


def _pid(server: AppProcess) -> int:
    assert server.pid is not None  # a started server has one
    return server.pid


def _run(name: str, workers: int, args: argparse.Namespace, workdir: Path) -> Run:
    with _database(name, workdir, args) as settings:
        url = settings["FLIGHTDECK_DATABASE_URL"]
        run_cli("migrate", settings=settings, cwd=workdir)
        build_network(url, flights=args.flights, history_days=0, seed=args.seed)
        create_passengers(settings, workdir)
        initial = _economy_counters(url)
        database = database_pids(settings)
        cores = None if args.worker_cores is None else args.worker_cores * workers
        with running_floor(workers=workers) as floor, capped(_pid(floor), cores):
            floor_result = run_wrk(
                floor.base_url,
                [Request("/healthz")],
                workdir=workdir,
                connections=args.connections,
                duration=args.duration,
            )
        with running_flightdeck(settings, workers=workers) as server:
            tokens = asyncio.run(passenger_tokens(server.base_url))
            holds, _ = _hold_requests(initial, tokens, args.seed, args.chosen_seats)
            reads = asyncio.run(_some_bookings(server.base_url, holds, 20))
            load = load_average()
            pid = _pid(server)
            cpu_before, database_before = cpu_seconds([pid]), cpu_seconds(database)
            with (
                capped(pid, cores),
                profiling(server, args.profile, f"holds-{name}-{workers}w"),
            ):
                reader = start_wrk(
                    server.base_url,
                    reads,
                    workdir=workdir,
                    connections=args.readers,
                    duration=args.duration,
                    pause_ms=args.read_pause,
                )
                hold_result = run_wrk(
                    server.base_url,
                    holds[:-20],
                    workdir=workdir,
                    connections=args.connections,
                    duration=args.duration,
                    unique_keys=args.idempotency_keys,
                )
                read_result = finish_wrk(reader)
            cpu = cpu_seconds([pid]) - cpu_before
            database_cpu = cpu_seconds(database) - database_before
        bookings, oversold, mismatched = _oversell_check(url, initial)
    created = hold_result.requests - hold_result.non_2xx - hold_result.errors
    written = bookings - len(reads)
    # Every 201 left exactly one booking. Requests wrk did not see answered may still have
    # been served: the ones it gave up on (timeouts) and the ones in flight on each connection
    # when it stopped. Then more bookings than 201s, which is no oversell.
    unanswered = hold_result.errors + args.connections
    if written < created or written > created + unanswered:
        mismatched += abs(written - created)
    served = max(hold_result.requests + read_result.requests, 1)
    return Run(
        name, workers, floor_result, hold_result, read_result, load, written,
        oversold, mismatched, 1000 * cpu / served,
        1000 * database_cpu / served if database else None,
    )  # fmt: skip


def _database_cpu(run: Run) -> str:
    if run.database_ms_per_request is None:
        return ""
    return f" (PostgreSQL {run.database_ms_per_request:.2f})"


def _report(runs: list[Run], args: argparse.Namespace) -> None:
    table = Table(
        title=f"POST /bookings: {args.connections} concurrent clients, {args.duration:.0f} s "
        f"(wrk){', each with an Idempotency-Key' if args.idempotency_keys else ''}, "
        f"GET /bookings/{{id}} on {args.readers} more; {args.flights:,} flights"
        + (
            ""
            if args.worker_cores is None
            else f"; each worker capped at {args.worker_cores:g} core"
        )
    )
    columns = (
        "database", "workers", "holds/s", "p50 ms", "p99 ms", "409s", "timeouts", "GET/s",
        "GET p50 ms", "GET p99 ms", "floor req/s", "holds % floor", "CPU ms/req",
        "PostgreSQL CPU ms/req", "load avg", "oversold", "mismatched",
    )  # fmt: skip
    for column in columns:
        table.add_column(column, justify="left" if column == "database" else "right")
    for run in runs:
        holds = run.holds
        table.add_row(
            run.database,
            str(run.workers),
            f"{holds.ok_rate:,.0f}",
            f"{holds.p50_ms:.1f}",
            f"{holds.p99_ms:.1f}",
            f"{holds.non_2xx:,}",
            f"{holds.errors:,}",
            f"{run.reads.rate:,.0f}",
            f"{run.reads.p50_ms:.1f}",
            f"{run.reads.p99_ms:.1f}",
            f"{run.floor.rate:,.0f}",
            f"{holds.ok_rate / run.floor.rate:.1%}",
            f"{run.cpu_ms_per_request:.1f}",
            "" if run.database_ms_per_request is None else f"{run.database_ms_per_request:.2f}",
            f"{run.load:.2f}",
            str(run.oversold_cabins),
            str(run.mismatched_cabins),
        )
    console.print(table)


def _cores(text: str) -> float:
    """`--worker-cores`: a positive share of one core (0.5), or several (2)."""
    try:
        cores = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of cores: {text!r}") from None
    if not 0.01 <= cores <= 1024:
        raise argparse.ArgumentTypeError(f"cores must be from 0.01 to 1024: {text!r}")
    return cores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--flights", type=int, default=2_000, help="bookable flights")
    parser.add_argument("--duration", type=float, default=30.0, help="seconds of load")
    parser.add_argument("--connections", type=int, default=200, help="concurrent hold clients")
    parser.add_argument(
        "--readers", type=int, default=1, help="connections reading a booking beside the holds"
    )
    parser.add_argument("--workers", default="1,2", help="comma-separated worker counts")
    parser.add_argument("--databases", default="sqlite,postgres", help="sqlite, postgres")
    parser.add_argument("--seed", type=int, default=7, help="seed of the flights and requests")
    parser.add_argument("--profile", type=Path, default=None, help="py-spy profiles here")
    parser.add_argument(
        "--pool-size", type=int, default=None, help="FLIGHTDECK_DATABASE_POOL_SIZE of the server"
    )
    parser.add_argument(
        "--read-reserve",
        type=int,
        default=None,
        help="FLIGHTDECK_DATABASE_READ_RESERVE of the server",
    )
    parser.add_argument(
        "--brief-slots",
        type=int,
        default=None,
        help="FLIGHTDECK_DATABASE_BRIEF_WRITE_SLOTS of the server",
    )
    parser.add_argument(
        "--read-pause",
        type=float,
        default=10.0,
        help="ms each reader waits after an answer before its next GET (0: none)",
    )
    parser.add_argument(
        "--chosen-seats",
        action="store_true",
        help="every passenger chooses a seat: each hold is a transaction",
    )
    parser.add_argument(
        "--idempotency-keys",
        action="store_true",
        help="every hold carries an Idempotency-Key of its own, as the app's do",
    )
    parser.add_argument(
        "--worker-cores",
        type=_cores,
        default=None,
        help="cap each worker at this many cores (0.5: half a core; a cgroup, as root): "
        "shows scaling with --workers 2 on a machine with too few cores for it",
    )
    args = parser.parse_args()

    console.print(f"load average at start: {load_average():.2f}")
    runs = []
    for name in args.databases.split(","):
        for workers in (int(w) for w in args.workers.split(",")):
            with tempfile.TemporaryDirectory(prefix="flightdeck-bench-") as tmp:
                run = _run(name, workers, args, Path(tmp))
            runs.append(run)
            console.print(
                f"{name}, {workers} worker(s): {run.holds.ok_rate:,.0f} holds/s, p99 "
                f"{run.holds.p99_ms:.0f} ms; {run.reads.rate:,.0f} GET/s, p99 "
                f"{run.reads.p99_ms:.1f} ms; {run.cpu_ms_per_request:.1f} CPU ms/request"
                f"{_database_cpu(run)}; "
                f"oversold {run.oversold_cabins}, mismatched {run.mismatched_cabins}"
            )
    _report(runs, args)
    console.print(f"load average at end: {load_average():.2f}")
    if any(run.oversold_cabins or run.mismatched_cabins for run in runs):
        raise SystemExit("OVERSELL CHECK FAILED")


if __name__ == "__main__":
    main()
