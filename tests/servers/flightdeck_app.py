"""FlightDeck served over real TCP, for tests (and the benches, through bench/servers.py).

- ``start_app(env)`` runs FlightDeck as a separate server process (``python -m uvicorn
  flightdeck.app:create_app --factory``) on a free 127.0.0.1 port with the given
  ``FLIGHTDECK_*`` variables and no other, in a temp working directory (no ``.env`` of the
  developer's is read), and waits for ``/healthz``. ``workers`` starts several worker
  processes; ``argv`` runs another command that takes ``--host --port --workers`` (uvicorn with
  another app, ``flightdeck serve``). ``running_apps(*envs)``: several instances sharing one
  database and one broker. Start-up and stop (SIGTERM, then SIGKILL): process.py.
- ``serving(app)`` serves an app object whose lifespan the caller already runs (the test's
  ``app`` fixture) with uvicorn on the current event loop, for WebSocket clients and the CLI.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import sys
import tempfile
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from pathlib import Path

import httpx
import uvicorn
from starlette.types import ASGIApp

from flightdeck.cli.server import uvicorn_loop
from flightdeck.platform.http_protocol import UVICORN_HTTP
from flightdeck.platform.settings import Settings

from .process import HOST, ServerProcess, start_on_free_port

# As `flightdeck serve` runs it: proxy headers off (the app alone decides whom to believe
# about the client's address, platform/client_address.py, never uvicorn), its HTTP protocol
# (platform/http_protocol.py), and its event loop (`AppProcess` adds `--loop`).
FLIGHTDECK_APP = (
    sys.executable, "-m", "uvicorn", "flightdeck.app:create_app", "--factory",
    "--log-level", "warning", "--no-proxy-headers", "--http", UVICORN_HTTP,
)  # fmt: skip


# The suite hashes passwords at a test-only argon2id cost (1 MiB, 1 pass, 1 lane: about 2 ms
# a hash instead of 0.2-1 s at the default profile on a 2-core machine), in its own process
# (tests/conftest.py) and in every server it starts. Still argon2id, still verified;
# tests/platform/test_password_hashing.py checks the default profile and the re-hash.
FAST_PASSWORD_HASHING = {
    "FLIGHTDECK_PASSWORD_HASH_MEMORY_KIB": "1024",
    "FLIGHTDECK_PASSWORD_HASH_TIME_COST": "1",
    "FLIGHTDECK_PASSWORD_HASH_PARALLELISM": "1",
}


def settings_environment(settings: Mapping[str, str]) -> dict[str, str]:
    """This process's environment without any ``FLIGHTDECK_*`` variable, plus the suite's
    password hashing cost and ``settings``."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("FLIGHTDECK_")}
    return clean | FAST_PASSWORD_HASHING | dict(settings)


def _serve_loop(env: Mapping[str, str]) -> list[str]:
    """uvicorn's `--loop` as `flightdeck serve` picks it for these settings (asyncio's own
    loop on SQLite, cli/server.uvicorn_loop)."""
    url = env.get("FLIGHTDECK_DATABASE_URL", Settings.model_fields["database_url"].default)
    choice = env.get("FLIGHTDECK_EVENT_LOOP", "auto")
    return ["--loop", uvicorn_loop(Settings(database_url=url, event_loop=choice))]


class AppProcess(ServerProcess):
    """An HTTP server process, ready when ``GET /healthz`` answers 200."""

    name = "FlightDeck server"
    ready_timeout = 90.0  # a deadline, not a wait: a loaded 2-core CI machine imports slowly
    stop_grace = 10.0

    def __init__(
        self,
        port: int,
        workdir: Path,
        *,
        env: Mapping[str, str],
        argv: Sequence[str] = FLIGHTDECK_APP,
        workers: int = 1,
        name: str | None = None,
        ready_timeout: float | None = None,
    ) -> None:
        super().__init__(port, workdir, ready_timeout=ready_timeout)
        self.env = dict(env)
        self.argv = list(argv)
        self.workers = workers
        if name is not None:
            self.name = name

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://{self.host}:{self.port}"

    def command(self) -> list[str]:
        address = ["--host", self.host, "--port", str(self.port)]
        loop = _serve_loop(self.env) if self.argv == list(FLIGHTDECK_APP) else []
        return [*self.argv, *loop, *address, "--workers", str(self.workers)]

    def environment(self) -> dict[str, str]:
        return settings_environment(self.env)

    def answers(self) -> bool:
        with contextlib.suppress(httpx.HTTPError):
            return httpx.get(f"{self.base_url}/healthz", timeout=1).status_code == 200
        return False

    def log_tail(self, lines: int = 40) -> str:
        return super().log_tail(lines)


def start_app(
    env: Mapping[str, str],
    *,
    argv: Sequence[str] = FLIGHTDECK_APP,
    workers: int = 1,
    name: str | None = None,
    ready_timeout: float | None = None,
) -> AppProcess:
    """Starts one server with ``env`` (FLIGHTDECK_* settings) and waits until it answers
    (``ready_timeout`` seconds; 30 unless given)."""
    workdir = Path(tempfile.mkdtemp(prefix="flightdeck-app-"))
    return start_on_free_port(
        lambda port: AppProcess(
            port,
            workdir,
            env=env,
            argv=argv,
            workers=workers,
            name=name,
            ready_timeout=ready_timeout,
        )
    )


@contextlib.contextmanager
def running_apps(*envs: Mapping[str, str]) -> Iterator[list[AppProcess]]:
    """Several instances, all stopped on the way out whatever happens."""
    with contextlib.ExitStack() as stack:
        yield [stack.enter_context(contextlib.closing(start_app(env))) for env in envs]


@contextlib.asynccontextmanager
async def serving(app: ASGIApp) -> AsyncIterator[str]:
    """Serves ``app`` on a free port from this event loop; yields ``http://127.0.0.1:<port>``.

    The lifespan is off: the caller runs it (the app's workers and bus are the test's own).
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((HOST, 0))  # bound before uvicorn starts: no race for the port
    config = uvicorn.Config(
        app, lifespan="off", log_level="warning", timeout_graceful_shutdown=2, http=UVICORN_HTTP
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        for _ in range(500):
            if server.started or task.done():
                break
            await asyncio.sleep(0.01)
        if not server.started:
            raise RuntimeError("uvicorn did not start")
        yield f"http://{HOST}:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)
        sock.close()
