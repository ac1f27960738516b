"""Notification tests: a real SMTP server capturing the app's email, and the app served over
real TCP (uvicorn on the test's event loop) for WebSocket clients.

`smtp` (autouse here) points the app's mailer at the capturing server for the test and
empties its mailbox; `ws_base` is the `ws://127.0.0.1:<port>` the app is served on.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Iterator

import pytest
import pytest_asyncio
import uvicorn
from fastapi import FastAPI

from tests.servers.smtp import SmtpServer, running_smtp


@pytest.fixture(scope="session")
def smtp_server() -> Iterator[SmtpServer]:
    with running_smtp() as server:
        yield server


@pytest.fixture(autouse=True)
def smtp(app: FastAPI, smtp_server: SmtpServer, monkeypatch: pytest.MonkeyPatch) -> SmtpServer:
    """The app sends email to the capturing server during the test (short retry waits)."""
    mailer = app.state.mailer
    monkeypatch.setattr(mailer.settings, "smtp_host", smtp_server.host)
    monkeypatch.setattr(mailer.settings, "smtp_port", smtp_server.port)
    monkeypatch.setattr(mailer, "retry_delays", (0.05, 0.1))
    smtp_server.clear()
    return smtp_server


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def ws_base(app: FastAPI) -> AsyncIterator[str]:
    """The app (lifespan already running) served by uvicorn on a free local port."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(app, lifespan="off", log_level="warning", timeout_graceful_shutdown=2)
    )
    task = asyncio.create_task(server.serve(sockets=[sock]))
    for _ in range(500):
        if server.started:
            break
        await asyncio.sleep(0.01)
    assert server.started, "uvicorn did not start"
    yield f"ws://127.0.0.1:{port}"
    server.should_exit = True
    await asyncio.wait_for(task, 10)
    sock.close()
