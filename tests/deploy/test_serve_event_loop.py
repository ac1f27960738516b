"""`flightdeck serve` runs the event loop `FLIGHTDECK_EVENT_LOOP` names: by default asyncio's
own on SQLite (whose brief reads run in the loop) and uvloop on PostgreSQL; so do the suite's
own server processes. The running server's main thread is read with py-spy: asyncio's loop
turns in Python (`BaseEventLoop._run_once`), uvloop's in its compiled code."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from flightdeck.cli.server import uvicorn_loop
from flightdeck.platform.settings import Settings
from tests.deploy.serve import serving
from tests.servers.flightdeck_app import start_app

_POSTGRES = "postgresql+asyncpg://flightdeck@127.0.0.1:5432/flightdeck"
_SQLITE = "sqlite+aiosqlite:///flightdeck.db"


@pytest.mark.parametrize(
    ("url", "event_loop", "expected"),
    [
        (_SQLITE, "auto", "asyncio"),
        (_POSTGRES, "auto", "auto"),  # uvicorn's own choice: uvloop, installed with it
        (_SQLITE, "uvloop", "uvloop"),
        (_POSTGRES, "asyncio", "asyncio"),
    ],
)
def test_the_loop_follows_the_setting_and_the_database(
    url: str, event_loop: str, expected: str
) -> None:
    assert uvicorn_loop(Settings(database_url=url, event_loop=event_loop)) == expected


def test_an_unknown_loop_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="event_loop"):
        Settings(database_url=_SQLITE, event_loop="trio")


def _runs_asyncios_loop(pid: int, looks: int = 10) -> bool:
    """Whether asyncio's loop turns the server's main thread: seen in any of `looks` reads of
    its stacks with py-spy (a dev dependency), 0.2 s apart. A read may catch the thread in a
    greenlet (a statement of a background worker), whose stack shows no loop frame; an idle
    server's shows its loop's."""
    py_spy = Path(sys.executable).with_name("py-spy")
    for _ in range(looks):
        done = subprocess.run(
            [str(py_spy), "dump", "--pid", str(pid)], capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 0, done.stderr
        if "_run_once" in done.stdout:
            return True
        time.sleep(0.2)
    return False


@pytest.mark.parametrize(
    ("settings", "asyncio_loop"), [({}, True), ({"event_loop": "uvloop"}, False)]
)
def test_serve_on_sqlite_runs_the_chosen_loop(
    tmp_path: Path, settings: dict[str, str], asyncio_loop: bool
) -> None:
    with serving(tmp_path, migrate=True, **settings) as served:
        assert httpx.get(f"{served.url}/flights?limit=1", timeout=10).status_code == 200
        assert _runs_asyncios_loop(served.process.pid) is asyncio_loop


@pytest.mark.parametrize(("event_loop", "asyncio_loop"), [("auto", True), ("uvloop", False)])
def test_the_suites_servers_on_sqlite_run_the_loop_serve_runs(
    tmp_path: Path, event_loop: str, asyncio_loop: bool
) -> None:
    env = {
        "FLIGHTDECK_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'app.db'}",
        "FLIGHTDECK_EVENT_LOOP": event_loop,
    }
    with contextlib.closing(start_app(env)) as app:
        assert app.pid is not None
        assert _runs_asyncios_loop(app.pid) is asyncio_loop
