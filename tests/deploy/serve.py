"""`flightdeck serve` as a separate process, the way the deploy files start the services."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.servers.flightdeck_app import FAST_PASSWORD_HASHING


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _environment(workdir: Path, settings: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLIGHTDECK_")}
    return (
        env
        | FAST_PASSWORD_HASHING
        | {
            "FLIGHTDECK_DATABASE_URL": f"sqlite+aiosqlite:///{workdir / 'serve.db'}",
            "FLIGHTDECK_LOG_LEVEL": "WARNING",
            **{f"FLIGHTDECK_{name.upper()}": value for name, value in settings.items()},
        }
    )


@dataclass(frozen=True)
class Served:
    url: str
    process: subprocess.Popen[bytes]
    log: Path


@contextlib.contextmanager
def flightdeck_serve(workdir: Path, *, migrate: bool = False, **settings: str) -> Iterator[str]:
    """`flightdeck serve` in `workdir` (its own SQLite file, migrated first when asked) with
    these settings (`rate_limit_per_address="2/minute"` → FLIGHTDECK_RATE_LIMIT_PER_ADDRESS);
    yields its base URL and stops it afterwards."""
    with serving(workdir, migrate=migrate, **settings) as served:
        yield served.url


@contextlib.contextmanager
def serving(workdir: Path, *, migrate: bool = False, **settings: str) -> Iterator[Served]:
    """`flightdeck_serve`, yielding the process and its log too."""
    env = _environment(workdir, settings)
    if migrate:
        subprocess.run(
            [sys.executable, "-m", "flightdeck", "migrate"],
            cwd=workdir, env=env, check=True, capture_output=True, timeout=120,
        )  # fmt: skip
    port = free_port()
    log_path = workdir / "serve.log"
    log = log_path.open("wb")
    server = subprocess.Popen(
        [sys.executable, "-m", "flightdeck", "serve", "--port", str(port)],
        cwd=workdir, env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if server.poll() is not None:
                raise RuntimeError(f"flightdeck serve exited:\n{log_path.read_text()}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{base_url}/healthz", timeout=1).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError(f"flightdeck serve is not up:\n{log_path.read_text()}")
            time.sleep(0.1)
        yield Served(base_url, server, log_path)
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()
