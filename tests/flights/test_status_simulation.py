"""`flightdeck simulate-status`: a reproducible day of updates, played into a live server's
signed webhook, changes the flights' statuses."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Iterator

import httpx
import pytest
from fastapi import FastAPI
from tests.conftest import TestUser
from tests.flights.factories import create_flight
from typer.testing import CliRunner

from flightdeck.cli import app as cli
from flightdeck.cli.status_simulation import PlayableFlight, plan_day

ASYNC = pytest.mark.asyncio(loop_scope="session")

SECRET = "simulation-secret-" + "z" * 16


@pytest.fixture
def feed_secret(app: FastAPI, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setattr(app.state.settings, "status_feed_secret", SECRET)
    yield SECRET


def _flight(number: str, hour: int, status: str = "scheduled") -> PlayableFlight:
    departure = dt.datetime(2026, 12, 1, hour, tzinfo=dt.timezone(dt.timedelta(hours=-5)))
    return PlayableFlight(number, departure.date(), "JFK", departure, status)


def test_the_same_seed_plays_the_same_day_with_exactly_one_cancellation() -> None:
    flights = [_flight(f"FD{n}", 6 + n) for n in range(1, 9)] + [_flight("FD99", 9, "arrived")]
    plan = plan_day(flights, seed=7)
    assert [u.message for u in plan] == [u.message for u in plan_day(flights, seed=7)]
    assert [u.at for u in plan] == sorted(u.at for u in plan)
    statuses = [u.message["status"] for u in plan]
    assert statuses.count("cancelled") == 1
    assert {"delayed", "boarding", "departed", "arrived"} <= set(statuses)
    assert "FD99" not in {u.message["flight_number"] for u in plan}  # already arrived


@ASYNC
async def test_simulate_status_into_the_webhook_changes_the_flights(
    client: httpx.AsyncClient, agent: TestUser, live_url: str, feed_secret: str
) -> None:
    ids = [
        (await create_flight(client, agent.headers, flight_number=number))["id"]
        for number in ("FD101", "FD203")
    ]
    args = ["simulate-status", "--to", "webhook", "--url", live_url, "--secret", feed_secret]
    args += ["--date", "2026-12-01", "--speed", "0", "--limit", "6", "--seed", "3"]
    result = await asyncio.to_thread(CliRunner().invoke, cli, args)
    assert result.exit_code == 0, result.output
    assert "Sent 6 update(s), 0 refused." in result.output
    statuses = [(await client.get(f"/flights/{i}/status")).json()["status"] for i in ids]
    assert any(status != "scheduled" for status in statuses), statuses
    for flight_id in ids:
        history = await client.get(f"/flights/{flight_id}/status/history", headers=agent.headers)
        assert {h["source"] for h in history.json()} <= {"feed:simulator"}


@ASYNC
async def test_simulate_status_with_a_wrong_secret_reports_each_refusal(
    client: httpx.AsyncClient, agent: TestUser, live_url: str, feed_secret: str
) -> None:
    await create_flight(client, agent.headers)
    args = ["simulate-status", "--url", live_url, "--secret", "wrong", "--date", "2026-12-01"]
    result = await asyncio.to_thread(
        CliRunner().invoke, cli, [*args, "--speed", "0", "--limit", "2"]
    )
    assert result.exit_code == 1
    assert "invalid_signature" in result.output


def test_simulate_status_with_no_server_exits_with_a_readable_error() -> None:
    args = ["simulate-status", "--url", "http://127.0.0.1:9", "--secret", "s", "--speed", "0"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 1
    assert "cannot reach http://127.0.0.1:9" in result.output
