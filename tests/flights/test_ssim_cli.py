"""`flightdeck import-ssim` and `flightdeck export-ssim` against the suite's databases."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from tests.cli_support import cli_on_database, invoke
from tests.conftest import TestUser as AppUser
from tests.flights.schedule_factories import set_now, utc

from flightdeck.platform.settings import Settings

pytestmark = pytest.mark.asyncio(loop_scope="session")

SAMPLE = Path(__file__).parent / "data" / "sample.ssim"


@pytest.fixture
def cli_env(
    settings: Settings, client: httpx.AsyncClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Path]:
    """Points the CLI at the test database (emptied after the test by `client`)."""
    monkeypatch.setenv("COLUMNS", "200")  # the summary tables on one line each
    with cli_on_database(settings, tmp_path, monkeypatch):
        yield tmp_path


async def test_import_ssim_loads_the_file_and_summarises_it(
    app: FastAPI, cli_env: Path, client: httpx.AsyncClient, agent: AppUser
) -> None:
    headers = set_now(app, utc(2026, 11, 20), agent)

    result = await invoke(["import-ssim", str(SAMPLE)])

    assert result.exit_code == 0, result.output
    assert "SSIM import" in result.output and "Rejected lines" in result.output
    for line_number in ("15", "32", "47", "49"):
        assert f"│ {line_number.rjust(4)} │" in result.output
    assert "days of operation" in result.output
    listed = (await client.get("/schedules?limit=100", headers=headers)).json()["items"]
    assert len(listed) == 11


async def test_import_ssim_can_keep_one_carrier(
    app: FastAPI, cli_env: Path, client: httpx.AsyncClient, agent: AppUser
) -> None:
    headers = set_now(app, utc(2026, 11, 20), agent)

    result = await invoke(["import-ssim", str(SAMPLE), "--carrier", "zx"])

    assert result.exit_code == 0, result.output
    listed = (await client.get("/schedules?limit=100", headers=headers)).json()["items"]
    assert {s["flight_number"][:2] for s in listed} == {"ZX"}
    assert "legs of other carriers" in result.output


async def test_export_ssim_writes_a_file_of_what_is_held(
    app: FastAPI, cli_env: Path, client: httpx.AsyncClient, agent: AppUser
) -> None:
    set_now(app, utc(2026, 11, 20), agent)
    assert (await invoke(["import-ssim", str(SAMPLE)])).exit_code == 0
    target = cli_env / "out.ssim"

    result = await invoke(["export-ssim", "--carrier", "FD", "--output", str(target)])

    assert result.exit_code == 0, result.output
    lines = target.read_text().splitlines()
    assert {len(line) for line in lines} == {200}
    legs = [line for line in lines if line.startswith("3")]
    assert {line[2:5] for line in legs} == {"FD "}
    assert "SSIM export" in result.output
    # carriers │ itinerary variations │ leg records │ bytes
    assert re.search(rf"│\s*FD\s*│\s*\d+\s*│\s*{len(legs)}\s*│", result.output), result.output


async def test_import_ssim_of_a_missing_file_fails_readably(cli_env: Path) -> None:
    result = await invoke(["import-ssim", "no-such-file.ssim"])

    assert result.exit_code == 2
    assert "does not exist" in result.output and "Traceback" not in result.output
