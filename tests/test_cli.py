"""The `flightdeck` command line against the suite's real databases."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from flightdeck.demo_data import DEMO_ROUTES
from flightdeck.platform.settings import Settings
from tests.cli_support import cli_on_database, invoke

pytestmark = pytest.mark.asyncio(loop_scope="session")


@pytest.fixture
def cli_env(
    settings: Settings, client: httpx.AsyncClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[None]:
    """Points the CLI at the test database (emptied after the test by `client`)."""
    with cli_on_database(settings, tmp_path, monkeypatch):
        yield


async def _login(client: httpx.AsyncClient, email: str, password: str) -> httpx.Response:
    return await client.post("/login", json={"email": email, "password": password})


async def test_create_user_makes_an_admin_who_can_sign_in(
    cli_env: None, client: httpx.AsyncClient
) -> None:
    result = await invoke(
        [
            "create-user",
            "--email",
            "Ops@Example.com",
            "--password",
            "a-long-admin-pass",
            "--role",
            "admin",
            "--name",
            "Ops Lead",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "Created admin" in result.output
    login = await _login(client, "ops@example.com", "a-long-admin-pass")
    assert login.status_code == 200
    token = login.json()["access_token"]
    profile = await client.get("/profile", headers={"Authorization": f"Bearer {token}"})
    assert profile.json()["role"] == "admin"
    assert profile.json()["full_name"] == "Ops Lead"


async def test_create_user_reports_bad_input_readably(cli_env: None) -> None:
    weak = await invoke(
        ["create-user", "--email", "a@example.com", "--password", "short", "--role", "agent"]
    )
    assert weak.exit_code == 1
    assert "error:" in weak.output and "Traceback" not in weak.output
    bad_role = await invoke(
        [
            "create-user",
            "--email",
            "a@example.com",
            "--password",
            "long-enough-pw",
            "--role",
            "pilot",
        ],
    )
    assert bad_role.exit_code == 2
    assert "unknown role" in bad_role.output


async def test_duplicate_user_is_a_readable_error(cli_env: None) -> None:
    args = ["create-user", "--email", "dup@example.com", "--password", "long-enough-pw"]
    assert (await invoke(args)).exit_code == 0
    again = await invoke(args)
    assert again.exit_code == 1
    assert "error:" in again.output


async def test_seed_loads_schedules_and_accounts_once(
    cli_env: None, client: httpx.AsyncClient
) -> None:
    first = await invoke(["seed", "--days", "3"])
    assert first.exit_code == 0, first.output
    assert f"Loaded {len(DEMO_ROUTES)} schedules" in first.output
    line = next(ln for ln in first.output.splitlines() if "admin@flightdeck.demo" in ln)
    password = line.split("password:")[1].strip()

    login = await _login(client, "admin@flightdeck.demo", password)
    assert login.status_code == 200
    flights = (await client.get("/flights", params={"origin": "JFK", "limit": 200})).json()
    assert {"FD100", "FD110", "FD130", "FD200"} <= {f["flight_number"] for f in flights["items"]}

    second = await invoke(["seed", "--days", "3"])
    assert second.exit_code == 0
    assert "already loaded" in second.output
    again = (await client.get("/flights", params={"origin": "JFK", "limit": 200})).json()
    assert len(again["items"]) == len(flights["items"])


async def test_demo_data_offers_a_connection_jfk_to_sfo_via_ord(
    cli_env: None, client: httpx.AsyncClient
) -> None:
    assert (await invoke(["seed", "--days", "3"])).exit_code == 0
    departures = (await client.get("/flights", params={"flight_number": "FD140"})).json()
    weekday = departures["items"][0]["service_date"]  # FD140 flies Monday to Friday
    result = await client.get(
        "/search", params={"origin": "JFK", "destination": "SFO", "date": weekday}
    )
    routes = [[s["flight_number"] for s in i["segments"]] for i in result.json()["itineraries"]]
    assert ["FD110", "FD140"] in routes


async def test_migrate_is_idempotent(cli_env: None) -> None:
    result = await invoke(["migrate"])
    assert result.exit_code == 0, result.output
    assert "latest schema" in result.output
