"""`flightdeck serve` runs the event loop `FLIGHTDECK_EVENT_LOOP` names: by default asyncio's
own on SQLite (whose brief reads run in the loop) and uvloop on PostgreSQL. The running
server's main thread is read with py-spy: asyncio's loop turns in Python
(`BaseEventLoop._run_once`), uvloop's in its compiled code."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from flightdeck.cli.server import uvicorn_loop
from flightdeck.platform.settings import Settings
from tests.deploy.serve import serving

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


def _main_thread_stack(pid: int) -> str:
    """The server's thread stacks as py-spy reads them (a dev dependency)."""
    py_spy = Path(sys.executable).with_name("py-spy")
    done = subprocess.run(
        [str(py_spy), "dump", "--pid", str(pid)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.parametrize(
    ("settings", "asyncio_loop"), [({}, True), ({"event_loop": "uvloop"}, False)]
)
def test_serve_on_sqlite_runs_the_chosen_loop(
    tmp_path: Path, settings: dict[str, str], asyncio_loop: bool
) -> None:
    with serving(tmp_path, migrate=True, **settings) as served:
        assert httpx.get(f"{served.url}/flights?limit=1", timeout=10).status_code == 200
        stack = _main_thread_stack(served.process.pid)
    assert ("_run_once" in stack) is asyncio_loop, stack
