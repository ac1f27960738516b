"""The app's API client against the real API (in process), and the pieces that put the
server's answers on screen: errors by their field, money and local times."""

from __future__ import annotations

import asyncio
import socket
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import flet as ft
import httpx
import pytest
import pytest_asyncio
import uvicorn
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from flightdeck.app import create_app
from flightdeck.platform.client_address import signed_address_headers
from flightdeck.platform.settings import Settings
from flightdeck.ui.api import KEEPALIVE_SECONDS, ApiClient, ApiError
from flightdeck.ui.formatting import (
    day_offset,
    duration,
    local_date_time,
    local_to_instant,
    money,
    to_minor_units,
)
from flightdeck.ui.phone import configured_api_url
from flightdeck.ui.widgets import Form

PASSWORD = "correct-horse-battery"


@pytest_asyncio.fixture(loop_scope="session")
async def api(app: FastAPI, client: httpx.AsyncClient) -> AsyncIterator[ApiClient]:
    """The app's client talking to the real API (`client` empties the tables afterwards)."""
    transport = httpx.ASGITransport(app=app, client=("203.0.113.20", 50000))
    api = ApiClient("http://testserver", transport=transport)
    yield api
    await api.aclose()


async def test_registers_signs_in_and_reads_the_profile(api: ApiClient) -> None:
    await api.register({"email": "grace@example.com", "password": PASSWORD, "full_name": "Grace"})
    profile = await api.sign_in("grace@example.com", PASSWORD)
    assert profile["email"] == "grace@example.com"
    assert profile["role"] == "passenger"
    assert api.websocket_url == "ws://testserver/ws"


async def test_raises_the_servers_error_as_it_came(api: ApiClient) -> None:
    with pytest.raises(ApiError) as weak:
        await api.register({"email": "g@example.com", "password": "short", "full_name": "G"})
    assert (weak.value.status, weak.value.code) == (422, "weak_password")
    assert weak.value.message == "The password needs at least 10 characters"
    with pytest.raises(ApiError) as invalid:
        await api.register({"email": "not-an-email", "password": PASSWORD, "full_name": ""})
    assert invalid.value.code == "validation_error"
    assert set(invalid.value.field_messages()) == {"email", "full_name"}


async def test_an_expired_access_token_is_renewed_once_with_the_refresh_token(
    api: ApiClient,
) -> None:
    await api.register({"email": "ada@example.com", "password": PASSWORD, "full_name": "Ada"})
    await api.sign_in("ada@example.com", PASSWORD)
    old_refresh = api.refresh_token
    api.access_token = "expired.or.forged"
    assert (await api.request("GET", "/profile"))["email"] == "ada@example.com"
    assert api.refresh_token != old_refresh  # rotated
    api.access_token, api.refresh_token = "forged", "revoked"
    with pytest.raises(ApiError) as signed_out:
        await api.request("GET", "/profile")
    assert signed_out.value.status == 401
    assert api.access_token is None


def test_field_messages_name_the_field_without_where_it_was_sent() -> None:
    error = ApiError(
        422,
        "validation_error",
        "passengers.0.first_name: Field required",
        {
            "errors": [
                {"field": "body.passengers.0.first_name", "message": "Field required"},
                {"field": "query.date", "message": "Input should be a valid date"},
                {"field": "body", "message": "Value error, origin and destination must differ"},
            ]
        },
    )
    assert error.field_messages() == {
        "passengers.0.first_name": "Field required",
        "date": "Input should be a valid date",
    }
    single = ApiError(422, "validation_error", "gate: too long", {"field": "gate"})
    assert single.field_messages() == {"gate": "gate: too long"}


def test_form_puts_each_error_by_its_field_and_the_rest_on_the_form() -> None:
    first = ft.TextField(label="First name")
    birth = ft.TextField(label="Date of birth")
    form = Form("booking", {"passengers.0.first_name": first, "passengers.0.date_of_birth": birth})
    form.show(
        ApiError(
            422,
            "validation_error",
            "x",
            {
                "errors": [{"field": "body.passengers.0.first_name", "message": "Field required"}],
            },
        )
    )
    assert first.error == "Field required"
    assert birth.error is None
    assert form.error_control.visible is False
    form.show(ApiError(409, "seat_unavailable", "Seat 3C on FD990 is taken"))
    assert first.error is None
    assert form.error_line.value == "Seat 3C on FD990 is taken"
    assert form.error_control.visible is True


def test_form_places_an_error_code_by_the_field_it_concerns() -> None:
    password = ft.TextField(label="Password")
    form = Form("signup", {"password": password}, code_fields={"weak_password": "password"})
    form.show(ApiError(422, "weak_password", "The password needs at least 10 characters"))
    assert password.error == "The password needs at least 10 characters"
    assert form.error_control.visible is False


def test_money_is_written_in_major_units() -> None:
    assert money({"amount": 45000, "currency": "USD"}) == "$450.00"
    assert money({"amount": 123456, "currency": "EUR"}) == "€1,234.56"
    assert money({"amount": 5000, "currency": "JPY"}) == "¥5,000"
    assert money({"amount": 999, "currency": "CHF"}) == "9.99 CHF"
    assert money(None) == "—"
    assert to_minor_units("450", "USD") == 45000
    assert to_minor_units("450.5", "USD") == 45050
    assert to_minor_units("5000", "JPY") == 5000
    for bad in ("4.505", "-1", "abc", ""):
        with pytest.raises(ValueError):
            to_minor_units(bad, "USD")


def test_times_stay_in_the_airports_offset() -> None:
    assert local_date_time("2026-12-04T18:30:00-05:00") == "Fri 4 Dec 18:30"
    assert day_offset("2026-12-04T18:30:00-05:00", "2026-12-05T06:40:00+00:00") == "+1"
    assert day_offset("2026-12-04T08:00:00-05:00", "2026-12-04T11:25:00-08:00") == ""
    assert duration(430) == "7h 10m"
    assert duration(45) == "45m"


def test_local_time_at_an_airport_takes_that_days_offset() -> None:
    # New York is UTC-4 in July and UTC-5 in December (DST).
    assert local_to_instant("2026-07-01 08:30", "America/New_York") == "2026-07-01T08:30:00-04:00"
    assert local_to_instant("2026-12-01 08:30", "America/New_York") == "2026-12-01T08:30:00-05:00"
    assert local_to_instant("2026-12-01T08:30+01:00", "America/New_York").endswith("+01:00")
    with pytest.raises(ValueError):
        local_to_instant("tomorrow morning", "America/New_York")


def test_the_phone_app_finds_its_server_in_the_environment_or_beside_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLIGHTDECK_UI_API_URL", "https://flightdeck.example.com")
    assert configured_api_url() == "https://flightdeck.example.com"
    monkeypatch.delenv("FLIGHTDECK_UI_API_URL")
    (tmp_path / "api_url.txt").write_text("https://packaged.example.com\n")
    monkeypatch.setattr(sys, "argv", [str(tmp_path / "main.py")])
    assert configured_api_url() == "https://packaged.example.com"
    (tmp_path / "api_url.txt").unlink()
    with pytest.raises(SystemExit):
        configured_api_url()


@pytest.mark.parametrize("settings", ["sqlite"], indirect=True)
async def test_each_browser_is_its_own_client_to_the_api(settings: Settings) -> None:
    # The server side hands the app a factory of signed headers; every call carries them,
    # so two browsers behind one app server have a per-address limit each.
    limited = settings.model_copy(update={"rate_limit_per_address": "2/minute"})
    app = create_app(limited)
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
    sign = signed_address_headers(limited)
    browsers = [
        ApiClient("http://testserver", identity_headers=lambda a=a: sign(a), transport=transport)
        for a in ("198.51.100.1", "198.51.100.2")
    ]

    async def answers(api: ApiClient) -> list[str]:
        results = []
        for _ in range(3):
            try:
                await api.airports("JFK")
                results.append("ok")
            except ApiError as exc:
                results.append(exc.code)
        return results

    async with LifespanManager(app):
        await app.state.rate_limits.storage.reset()
        try:
            assert await answers(browsers[0]) == ["ok", "ok", "rate_limited"]
            assert await answers(browsers[1]) == ["ok", "ok", "rate_limited"]
        finally:
            await app.state.rate_limits.storage.reset()
            for api in browsers:
                await api.aclose()


async def test_a_connection_left_idle_is_not_reused_as_the_server_closes_it() -> None:
    """uvicorn closes a connection idle for its keep-alive timeout (5 s), and httpx reused one
    idle up to 5 s: a hold sent just then failed with "The server cannot be reached". The
    client gives an idle connection up well before (a real server counts the connections)."""
    connections: list[int] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        connections.append(scope["client"][1])  # the client's port: one per connection
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    config = uvicorn.Config(app, lifespan="off", log_level="warning")
    assert config.timeout_keep_alive > KEEPALIVE_SECONDS
    listening = socket.create_server(("127.0.0.1", 0))  # connections wait until it serves
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve(sockets=[listening]))
    api = ApiClient(f"http://127.0.0.1:{listening.getsockname()[1]}")
    try:
        await api.request("GET", "/first")
        await api.request("GET", "/at-once")
        await asyncio.sleep(KEEPALIVE_SECONDS + 0.5)  # idle, and the server still keeps it
        await api.request("GET", "/after-a-pause")
    finally:
        await api.aclose()
        server.should_exit = True
        await serving
    first, at_once, after_a_pause = connections
    assert at_once == first  # a fresh connection is kept alive
    assert after_a_pause != first  # an idle one is not reused
