"""`flightdeck serve` gives uvicorn FLIGHTDECK_LOG_LEVEL: its access line per request is
written at DEBUG and INFO, and not at WARNING (where uvicorn's access log is off)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.deploy.serve import serving

ACCESS_LINE = '"GET /flights?limit=1 HTTP/1.1" 200'


@pytest.mark.parametrize(("level", "logged"), [("DEBUG", True), ("INFO", True), ("WARNING", False)])
def test_access_lines_follow_the_log_level(tmp_path: Path, level: str, logged: bool) -> None:
    with serving(tmp_path, migrate=True, log_level=level) as served:
        assert httpx.get(f"{served.url}/flights?limit=1", timeout=10).status_code == 200
        served.process.terminate()
        served.process.wait(timeout=45)
        log = served.log.read_text()
    assert (ACCESS_LINE in log) is logged, log
