"""Failed-login throttling: per account, per client IP, slowed, and reset on success."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import httpx
import pytest
from fastapi import FastAPI

from flightdeck.users import service
from tests.conftest import assert_error
from tests.users.factories import PASSWORD, login, register, unique_email

if TYPE_CHECKING:
    from tests.conftest import TestUser

pytestmark = pytest.mark.asyncio(loop_scope="session")

MAX_FAILURES = 5  # conftest settings: login_max_failures


@pytest.fixture
def fast_delays(monkeypatch: pytest.MonkeyPatch) -> None:
    """Shrinks the slow-down between failures, so tests about the limits stay quick."""
    monkeypatch.setattr(service, "LOGIN_DELAY_STEP_SECONDS", 0.01)


async def fail_logins(client: httpx.AsyncClient, email: str, times: int) -> None:
    for _ in range(times):
        assert_error(await login(client, email, "wrong-password"), 401, "invalid_credentials")


@pytest.mark.usefixtures("fast_delays")
async def test_account_is_locked_after_five_failures_even_with_the_right_password(
    client: httpx.AsyncClient, passenger: TestUser
) -> None:
    await fail_logins(client, passenger.email, MAX_FAILURES)
    response = await login(client, passenger.email, passenger.password)
    error = assert_error(response, 429, "too_many_attempts")
    retry_after = int(response.headers["Retry-After"])
    assert 0 < retry_after <= 900
    assert error["details"] == {"retry_after_seconds": retry_after}


@pytest.mark.usefixtures("fast_delays")
async def test_locked_account_does_not_block_other_accounts_from_the_same_ip(
    client: httpx.AsyncClient, passenger: TestUser
) -> None:
    await fail_logins(client, passenger.email, MAX_FAILURES)
    other = await register(client)
    assert (await login(client, other["email"], other["password"])).status_code == 200


@pytest.mark.usefixtures("fast_delays")
async def test_successful_login_resets_the_failure_count(
    client: httpx.AsyncClient, passenger: TestUser
) -> None:
    # 3 + 3 failures would pass the limit of 5 if the success in between did not reset it.
    for _ in range(2):
        await fail_logins(client, passenger.email, 3)
        assert (await login(client, passenger.email, passenger.password)).status_code == 200
    await fail_logins(client, passenger.email, 1)


async def test_login_slows_down_after_three_failures(
    client: httpx.AsyncClient, passenger: TestUser
) -> None:
    await fail_logins(client, passenger.email, 3)
    started = time.monotonic()
    await fail_logins(client, passenger.email, 1)
    assert time.monotonic() - started >= service.LOGIN_DELAY_STEP_SECONDS


async def test_one_ip_spraying_many_accounts_is_blocked(
    client: httpx.AsyncClient, app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An IP limit of 2 * 5 instead of 4 * 5 keeps this short; the app builds a fresh
    # per-IP throttle on the next login, and the old one is put back afterwards.
    monkeypatch.setattr(service, "IP_FAILURE_MULTIPLIER", 2)
    monkeypatch.setattr(app.state, "login_ip_throttle", None, raising=False)
    # Two failures per account: no account limit or delay is reached, only the IP limit.
    for _ in range(MAX_FAILURES):
        await fail_logins(client, unique_email(), 2)
    response = await login(client, unique_email(), PASSWORD)
    assert_error(response, 429, "too_many_attempts")
    assert "Retry-After" in response.headers


@pytest.mark.usefixtures("fast_delays")
async def test_wrong_current_password_counts_against_the_account_limit(
    client: httpx.AsyncClient, passenger: TestUser
) -> None:
    body = {"password": "a-new-Strong-passphrase", "current_password": "wrong-password"}
    for _ in range(MAX_FAILURES):
        response = await client.patch("/profile", json=body, headers=passenger.headers)
        assert_error(response, 403, "invalid_current_password")
    response = await client.patch("/profile", json=body, headers=passenger.headers)
    assert_error(response, 429, "too_many_attempts")
    assert_error(await login(client, passenger.email, passenger.password), 429, "too_many_attempts")
