"""Fixtures of the app's tests: one FlightDeck server and one Chromium for the session, the
requests to other hosts counted, screenshots kept in an artifacts directory."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, sync_playwright

from tests.run_summary import note
from tests.ui.app_server import UiApp, running_ui_app
from tests.ui.flutter import CHROMIUM, CHROMIUM_ARGS, ExternalRequests


@pytest.fixture(scope="session")
def ui_app() -> Iterator[UiApp]:
    with running_ui_app() as app:
        yield app


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """One Chromium for the browser tests (all in one module). Module-scoped: Playwright's sync
    API marks an event loop running while it lives, which the suite's async tests cannot share,
    so it stops before they start."""
    if not CHROMIUM.exists():
        pytest.fail(
            f"Debian's chromium is missing ({CHROMIUM}): `make test` installs it as root, "
            "or run `apt-get install chromium`"
        )
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="session")
def external_requests() -> Iterator[ExternalRequests]:
    """Requests to hosts other than 127.0.0.1 during the session (all aborted)."""
    external = ExternalRequests()
    yield external
    hosts = sorted({url.split("/")[2] for url in external.urls})
    note(f"app tests: {len(external.urls)} request(s) to other hosts aborted {hosts}")


@pytest.fixture(scope="session")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Screenshots of the run: FLIGHTDECK_UI_ARTIFACTS, or a temp directory."""
    chosen = os.environ.get("FLIGHTDECK_UI_ARTIFACTS")
    path = Path(chosen) if chosen else tmp_path_factory.mktemp("ui-artifacts")
    path.mkdir(parents=True, exist_ok=True)
    note(f"app tests: screenshots and load figures in {path}")
    return path
