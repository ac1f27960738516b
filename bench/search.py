"""Search load benchmark on the demo data set: `make bench-search`.

Builds a throwaway SQLite database with `flightdeck migrate` + `flightdeck seed`, starts
`flightdeck serve` on a free port, and sends a bounded load of `GET /search` requests over the
demo routes (direct flights and connections such as JFK→SFO via ORD) with a fixed number of
concurrent clients:

- cold: distinct searches (route, date, passengers, sort), each asked once: every one is a
  cache miss and runs the two indexed queries;
- warm: a small set of popular searches asked again and again: served from the cache.

Prints p50/p99 latency and requests per second for each phase, then stops the server. Only
the standard library, httpx and rich (all FlightDeck dependencies) are used.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import httpx
from rich.console import Console
from rich.table import Table

# Demo routes (flightdeck.demo_data): direct ones and ones only connections serve.
ROUTES = (
    ("JFK", "LAX"),  # direct, and via ORD
    ("JFK", "SFO"),  # via ORD
    ("JFK", "ORD"),
    ("ORD", "LAX"),
    ("LAX", "JFK"),
    ("LAX", "ORD"),
    ("JFK", "MIA"),
    ("MIA", "JFK"),
    ("JFK", "LHR"),
    ("LHR", "JFK"),
    ("JFK", "FRA"),  # via LHR
    ("LHR", "AMS"),
    ("AMS", "JFK"),
    ("LHR", "CDG"),
    ("SFO", "NRT"),
    ("NRT", "SFO"),
    ("ORD", "SFO"),
    ("MIA", "LAX"),  # no itinerary: the layover would exceed 8 h
)
SORTS = ("price", "duration", "departure")
HOT_SEARCHES = 40
console = Console()


@dataclass
class PhaseResult:
    name: str
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    itineraries: int = 0
    elapsed: float = 0.0
    cache_hits: float = 0.0
    cache_lookups: float = 0.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _flightdeck(*args: str, cwd: Path, env: dict[str, str]) -> str:
    done = subprocess.run(  # noqa: S603 - our own CLI, fixed arguments
        [sys.executable, "-m", "flightdeck", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"flightdeck {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


def _searches(days: int, count: int, seed: int) -> list[dict[str, str]]:
    """`count` distinct search queries over the demo routes and the next `days` days."""
    first_day = date.today() + timedelta(days=1)
    space = [
        {
            "origin": origin,
            "destination": destination,
            "date": (first_day + timedelta(days=offset)).isoformat(),
            "passengers": str(passengers),
            "sort": sort,
        }
        for origin, destination in ROUTES
        for offset in range(days)
        for passengers in (1, 2)
        for sort in SORTS
    ]
    random.Random(seed).shuffle(space)  # noqa: S311 - a reproducible mix, not a secret
    return space[:count]


async def _cache_counts(http: httpx.AsyncClient) -> tuple[float, float]:
    """(hits, lookups) of the server's cache so far, from /metrics."""
    text = (await http.get("/metrics")).text
    counts = {"hit": 0.0, "miss": 0.0}
    for result, value in re.findall(
        r'^flightdeck_cache_lookups_total\{[^}]*result="(hit|miss)"[^}]*\} (\S+)$', text, re.M
    ):
        counts[result] += float(value)
    return counts["hit"], counts["hit"] + counts["miss"]


async def _run_phase(
    http: httpx.AsyncClient, name: str, queries: list[dict[str, str]], concurrency: int
) -> PhaseResult:
    result = PhaseResult(name)
    pending = list(reversed(queries))
    hits_before, lookups_before = await _cache_counts(http)

    async def worker() -> None:
        while pending:
            query = pending.pop()
            started = time.perf_counter()
            response = await http.get("/search", params=query)
            result.latencies.append(time.perf_counter() - started)
            if response.status_code == 200:
                result.itineraries += len(response.json()["itineraries"])
            else:
                result.errors += 1

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    result.elapsed = time.perf_counter() - started
    hits_after, lookups_after = await _cache_counts(http)
    result.cache_hits = hits_after - hits_before
    result.cache_lookups = lookups_after - lookups_before
    return result


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def _report(results: list[PhaseResult], concurrency: int, data_set: str) -> None:
    table = Table(title=f"GET /search: {concurrency} concurrent clients, {data_set}")
    for column in ("phase", "requests", "errors", "cache hits", "p50 ms", "p99 ms", "req/s"):
        table.add_column(column, justify="left" if column == "phase" else "right")
    everything = PhaseResult(
        "all",
        latencies=[latency for r in results for latency in r.latencies],
        errors=sum(r.errors for r in results),
        elapsed=sum(r.elapsed for r in results),
        cache_hits=sum(r.cache_hits for r in results),
        cache_lookups=sum(r.cache_lookups for r in results),
    )
    for r in [*results, everything]:
        hit_ratio = r.cache_hits / r.cache_lookups if r.cache_lookups else 0.0
        table.add_row(
            r.name,
            str(len(r.latencies)),
            str(r.errors),
            f"{hit_ratio:.0%}",
            f"{_percentile(r.latencies, 0.50) * 1000:.1f}",
            f"{_percentile(r.latencies, 0.99) * 1000:.1f}",
            f"{len(r.latencies) / r.elapsed:.0f}",
        )
    console.print(table)
    found = sum(r.itineraries for r in results)
    mean = statistics.mean(everything.latencies) * 1000
    console.print(
        f"cold: {len(results[0].latencies)} distinct searches, each a cache miss; "
        f"warm: the {HOT_SEARCHES} most popular of them asked again.\n"
        f"{found} itineraries returned; mean latency {mean:.1f} ms."
    )


async def _wait_until_up(http: httpx.AsyncClient, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit("flightdeck serve exited; see its log above")
        try:
            if (await http.get("/healthz")).status_code == 200:
                return
        except httpx.TransportError:
            pass
        await asyncio.sleep(0.1)
    raise SystemExit("flightdeck serve did not answer /healthz within 60 s")


async def _load(base_url: str, args: argparse.Namespace, server: subprocess.Popen[bytes]) -> None:
    cold_count = args.requests // 2
    cold = _searches(args.days, cold_count, args.seed)
    hot = cold[:HOT_SEARCHES]
    picker = random.Random(args.seed)  # noqa: S311 - a reproducible mix, not a secret
    warm = [picker.choice(hot) for _ in range(args.requests - cold_count)]
    limits = httpx.Limits(max_connections=args.concurrency)
    async with httpx.AsyncClient(base_url=base_url, timeout=30, limits=limits) as http:
        await _wait_until_up(http, server)
        # Untimed: the first searches load the airports table and warm the connection pool.
        await _run_phase(http, "warm-up", _searches(1, args.concurrency, args.seed + 1), 1)
        results = [
            await _run_phase(http, "cold", cold, args.concurrency),
            await _run_phase(http, "warm", warm, args.concurrency),
        ]
    _report(results, args.concurrency, f"SQLite demo data, {args.days} days of schedules")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000, help="total requests")
    parser.add_argument("--concurrency", type=int, default=20, help="concurrent clients")
    parser.add_argument("--days", type=int, default=30, help="days of demo schedules")
    parser.add_argument("--seed", type=int, default=7, help="random seed of the query mix")
    parser.add_argument("--redis-url", default="", help="use this Redis as the cache")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="flightdeck-bench-") as tmp:
        workdir = Path(tmp)
        env = {key: value for key, value in os.environ.items() if not key.startswith("FLIGHTDECK_")}
        env |= {
            "FLIGHTDECK_DATABASE_URL": f"sqlite+aiosqlite:///{workdir / 'bench.db'}",
            "FLIGHTDECK_REDIS_URL": args.redis_url,
            "FLIGHTDECK_LOG_LEVEL": "WARNING",
            # One address sends every request: limits it never reaches (still counted).
            "FLIGHTDECK_RATE_LIMIT_PER_ADDRESS": "100000000/minute",
            "FLIGHTDECK_RATE_LIMIT_SEARCH": "100000000/minute",
        }
        with console.status("Building the demo database (migrate + seed) …"):
            _flightdeck("migrate", cwd=workdir, env=env)
            seeded = _flightdeck("seed", "--days", str(args.days), cwd=workdir, env=env)
        console.print(seeded.split(" Sign in", 1)[0])  # not the throwaway credentials
        port = _free_port()
        log_path = workdir / "serve.log"
        with log_path.open("wb") as log:
            server = subprocess.Popen(  # noqa: S603 - our own CLI, fixed arguments
                [sys.executable, "-m", "flightdeck", "serve", "--port", str(port)],
                cwd=workdir,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            try:
                asyncio.run(_load(f"http://127.0.0.1:{port}", args, server))
            finally:
                server.terminate()
                try:
                    server.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    server.kill()
                    server.wait()
        if server.returncode not in (0, -15):
            console.print(log_path.read_text(errors="replace")[-3000:])


if __name__ == "__main__":
    main()
