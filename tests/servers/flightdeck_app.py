"""FlightDeck itself as a separate server process (uvicorn), for tests that need several
instances sharing one database and one broker.

``start_app(env)`` runs ``python -m uvicorn flightdeck.app:create_app --factory`` on a free
127.0.0.1 port with the given ``FLIGHTDECK_*`` variables, in a temp working directory (no
``.env`` of the developer's is read), and waits for ``/healthz``. ``stop()`` terminates it
(SIGTERM, then SIGKILL); the kernel kills it too if the test process dies (PDEATHSIG).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import httpx

HOST = "127.0.0.1"
_READY_TIMEOUT = 30.0


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _orphan_guard() -> list[str]:
    setpriv = shutil.which("setpriv")
    if setpriv and threading.current_thread() is threading.main_thread():
        return [setpriv, "--pdeathsig", "KILL", "--"]
    return []


@dataclass
class AppProcess:
    port: int
    log_path: Path
    _process: subprocess.Popen[bytes] = field(repr=False)
    _log_file: IO[bytes] = field(repr=False)
    _workdir: Path = field(repr=False)

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://{HOST}:{self.port}"

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "<no log>"

    def stop(self) -> None:
        """Terminates the process (bounded wait, then kill) and removes its directory."""
        process = self._process
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
        self._log_file.close()
        shutil.rmtree(self._workdir, ignore_errors=True)


def _wait_healthy(app: AppProcess) -> None:
    deadline = time.monotonic() + _READY_TIMEOUT
    while time.monotonic() < deadline:
        if app._process.poll() is not None:
            raise RuntimeError(f"the FlightDeck server exited:\n{app.log_tail()}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{app.base_url}/healthz", timeout=1).status_code == 200:
                return
        time.sleep(0.05)
    raise RuntimeError(
        f"the FlightDeck server is not up after {_READY_TIMEOUT}s:\n{app.log_tail()}"
    )


def start_app(env: Mapping[str, str]) -> AppProcess:
    """Starts one instance with `env` (FLIGHTDECK_* settings) and waits until it answers."""
    workdir = Path(tempfile.mkdtemp(prefix="flightdeck-app-"))
    port = _free_port()
    log_path = workdir / "server.log"
    log_file = log_path.open("ab")
    clean = {k: v for k, v in os.environ.items() if not k.startswith("FLIGHTDECK_")}
    command = [
        *_orphan_guard(), sys.executable, "-m", "uvicorn", "flightdeck.app:create_app",
        "--factory", "--host", HOST, "--port", str(port), "--log-level", "warning",
    ]  # fmt: skip
    process = subprocess.Popen(
        command,
        cwd=workdir,
        env={**clean, **env},
        stdin=subprocess.DEVNULL,
        stdout=log_file,
        stderr=subprocess.STDOUT,
    )
    app = AppProcess(port, log_path, process, log_file, workdir)
    try:
        _wait_healthy(app)
    except BaseException:
        app.stop()
        raise
    return app


@contextlib.contextmanager
def running_apps(*envs: Mapping[str, str]) -> Iterator[list[AppProcess]]:
    """Several instances, all stopped on the way out whatever happens."""
    apps: list[AppProcess] = []
    try:
        for env in envs:
            apps.append(start_app(env))
        yield apps
    finally:
        for app in apps:
            app.stop()
