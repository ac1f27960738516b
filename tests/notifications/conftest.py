"""Notification tests: a real SMTP server capturing the app's email, and the app served over
real TCP (uvicorn on the test's event loop) for WebSocket clients.

`smtp` (autouse here) points the app's mailer at the capturing server for the test and
empties its mailbox; `ws_base` is the `ws://127.0.0.1:<port>` the app is served on.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
import pytest_asyncio
from fastapi import FastAPI

from tests.servers.flightdeck_app import serving
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
    async with serving(app) as base_url:
        yield base_url.replace("http://", "ws://", 1)
