"""Search load benchmark on the demo data set: `make bench-search`.

Builds a throwaway SQLite database with `flightdeck migrate` + `flightdeck seed`, starts
`flightdeck serve` on a free port (servers.py), and sends a bounded load of `GET /search`
requests over the demo routes (direct flights and connections such as JFK→SFO via ORD) with a
fixed number of concurrent clients:

- cold: distinct searches (route, date, passengers, sort), each asked once: every one is a
  cache miss and runs the two indexed queries;
- warm: a small set of popular searches asked again and again: served from the cache.

Prints p50/p99 latency and requests per second for each phase, then stops the server. Only
the standard library, httpx and rich (all FlightDeck dependencies) are used.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import re
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import httpx
from rich.console import Console
from rich.table import Table

from servers import run_cli, running_flightdeck, sqlite_settings

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


async def _load(base_url: str, args: argparse.Namespace) -> None:
    cold_count = args.requests // 2
    cold = _searches(args.days, cold_count, args.seed)
    hot = cold[:HOT_SEARCHES]
    picker = random.Random(args.seed)  # noqa: S311 - a reproducible mix, not a secret
    warm = [picker.choice(hot) for _ in range(args.requests - cold_count)]
    limits = httpx.Limits(max_connections=args.concurrency)
    async with httpx.AsyncClient(base_url=base_url, timeout=30, limits=limits) as http:
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
        settings = sqlite_settings(workdir) | {"FLIGHTDECK_REDIS_URL": args.redis_url}
        with console.status("Building the demo database (migrate + seed) …"):
            run_cli("migrate", settings=settings, cwd=workdir)
            seeded = run_cli("seed", "--days", str(args.days), settings=settings, cwd=workdir)
        console.print(seeded.split(" Sign in", 1)[0])  # not the throwaway credentials
        with running_flightdeck(settings) as server:
            asyncio.run(_load(server.base_url, args))


if __name__ == "__main__":
    main()
