"""`flightdeck serve` stops when told (SIGTERM, as Kubernetes and the gateway's rolling
restarts do), also after a browser left the app's session socket before its session began."""

from __future__ import annotations

import asyncio
import signal
import subprocess
from pathlib import Path

import websockets

from tests.deploy.serve import serving


async def _open_and_leave(url: str) -> int:
    """Opens the app's session socket and goes at once, as a probe or a page closed while
    loading does (Flet's session never registers)."""
    async with websockets.connect(url.replace("http://", "ws://") + "/_flet/ws") as socket_:
        assert socket_.response is not None
        return socket_.response.status_code


def test_serve_stops_on_sigterm_after_a_browser_left_the_session_socket(tmp_path: Path) -> None:
    # A grace far longer than the wait below: the process must end by itself, not be cut off.
    # At INFO, uvicorn logs the steps of its stop.
    with serving(tmp_path, migrate=True, shutdown_grace_seconds="600", log_level="INFO") as served:
        assert asyncio.run(_open_and_leave(served.url)) == 101
        served.process.send_signal(signal.SIGTERM)
        try:
            returncode = served.process.wait(timeout=45)  # a deadline on a loaded machine
        except subprocess.TimeoutExpired:
            returncode = None
        log = served.log.read_text()
    # uvicorn ends a graceful stop by re-raising the signal it was stopped with.
    assert returncode == -signal.SIGTERM, log
    assert log.index("Shutting down") < log.index("Finished server process")
