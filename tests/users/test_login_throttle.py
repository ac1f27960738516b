"""Sign-in throttling that an attacker cannot turn against the owner: per (account, address),
per address, and an account under attack paces attempts from addresses it does not know
(users/login_throttle.py; the policy is in the README)."""

from __future__ import annotations

import asyncio
import itertools
import math
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from ipaddress import IPv4Address
from typing import TYPE_CHECKING

import httpx
import pytest
import pytest_asyncio
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from flightdeck.app import create_app
from flightdeck.platform.errors import TooManyRequests
from flightdeck.platform.ratelimit import InProcessStorage
from flightdeck.platform.settings import Settings
from flightdeck.users.login_throttle import LoginThrottles
from tests.conftest import assert_error
from tests.users.factories import PASSWORD, login, unique_email

if TYPE_CHECKING:
    from tests.conftest import TestUser

pytestmark = pytest.mark.asyncio(loop_scope="session")

# Small limits keep these tests short: every failure costs a real argon2 verification.
THROTTLES = {
    "login_max_failures": 3,
    "login_max_failures_per_address": 5,
    "login_pace_after_attempts": 2,
    "login_pace_seconds": 2,
    "login_pace_max_seconds": 60,
}
MAX_FAILURES = THROTTLES["login_max_failures"]
PACE_AFTER = THROTTLES["login_pace_after_attempts"]
PACE_FIRST = THROTTLES["login_pace_seconds"]
PACE_MAX = THROTTLES["login_pace_max_seconds"]
HOME = "198.51.100.7"  # the owner's usual address
ELSEWHERE = "203.0.113.10"

ClientAt = Callable[[str], httpx.AsyncClient]


@pytest_asyncio.fixture(loop_scope="session", scope="module")
async def throttled_app(settings: Settings) -> AsyncIterator[FastAPI]:
    """An app on the suite's database with the small sign-in limits above."""
    application = create_app(settings.model_copy(update=THROTTLES))
    async with LifespanManager(application):
        yield application


@pytest_asyncio.fixture(loop_scope="session")
async def client_at(throttled_app: FastAPI, client: httpx.AsyncClient) -> AsyncIterator[ClientAt]:
    """Clients of the throttled app seen from a given address; its counters are emptied
    afterwards (the suite's `client` empties the database)."""
    async with AsyncExitStack() as stack:

        def make(address: str) -> httpx.AsyncClient:
            transport = httpx.ASGITransport(app=throttled_app, client=(address, 40000))
            http = httpx.AsyncClient(transport=transport, base_url="http://testserver")
            stack.push_async_callback(http.aclose)
            return http

        yield make
    await throttled_app.state.rate_limits.storage.reset()


def attacker_address(n: int) -> str:
    return f"192.0.2.{n}"


async def fail_logins(client: httpx.AsyncClient, email: str, times: int) -> None:
    for _ in range(times):
        assert_error(await login(client, email, "wrong-password"), 401, "invalid_credentials")


async def fail_logins_patiently(client: httpx.AsyncClient, email: str, times: int) -> None:
    """Wrong passwords, waiting out the account's pacing like a patient attacker."""
    for _ in range(times):
        for _attempt in range(10):
            response = await login(client, email, "wrong-password")
            if response.status_code != 429:
                break
            await asyncio.sleep(retry_after(response))
        assert_error(response, 401, "invalid_credentials")


async def sign_in_from_home(client_at: ClientAt, user: TestUser) -> None:
    """The owner signs in from their usual address, which makes it known to the account."""
    assert (await login(client_at(HOME), user.email, user.password)).status_code == 200


def retry_after(response: httpx.Response) -> int:
    error = assert_error(response, 429, "too_many_attempts")
    seconds = int(response.headers["Retry-After"])
    assert isinstance(error["details"], dict)
    assert error["details"]["retry_after_seconds"] == seconds
    return seconds


def pace(response: httpx.Response) -> int:
    """The spacing a paced refusal announces for the attempts after its wait."""
    retry_after(response)
    details = response.json()["error"]["details"]
    return int(details["pace_seconds"])


# --- per (account, address) and per address ---------------------------------------------------


async def test_repeated_failures_block_that_address_for_the_account_even_with_the_right_password(
    client_at: ClientAt, passenger: TestUser
) -> None:
    client = client_at(ELSEWHERE)
    await fail_logins(client, passenger.email, MAX_FAILURES)
    seconds = retry_after(await login(client, passenger.email, passenger.password))
    assert 0 < seconds <= 900


async def test_a_blocked_address_for_one_account_can_still_sign_in_to_others(
    client_at: ClientAt, passenger: TestUser, agent: TestUser
) -> None:
    client = client_at(ELSEWHERE)
    await fail_logins(client, passenger.email, MAX_FAILURES)
    assert (await login(client, agent.email, agent.password)).status_code == 200


async def test_successful_login_resets_the_failures_of_that_address(
    client_at: ClientAt, passenger: TestUser
) -> None:
    client = client_at(ELSEWHERE)
    # 2 + 2 failures would pass the limit of 3 if the success in between did not reset it.
    for _ in range(2):
        await fail_logins(client, passenger.email, 2)
        assert (await login(client, passenger.email, passenger.password)).status_code == 200
    await fail_logins(client, passenger.email, 1)


async def test_one_address_spraying_many_accounts_is_blocked(
    client_at: ClientAt,
) -> None:
    client = client_at(ELSEWHERE)
    # One failure per account: no account or pair limit is reached, only the address one.
    for _ in range(THROTTLES["login_max_failures_per_address"]):
        await fail_logins(client, unique_email(), 1)
    retry_after(await login(client, unique_email(), PASSWORD))


async def test_unknown_accounts_are_throttled_like_existing_ones(
    client_at: ClientAt,
) -> None:
    client = client_at(ELSEWHERE)
    email = unique_email()
    await fail_logins(client, email, MAX_FAILURES)
    retry_after(await login(client, email, PASSWORD))


async def test_wrong_current_password_counts_against_the_same_limit_as_login(
    client_at: ClientAt, passenger: TestUser
) -> None:
    client = client_at(ELSEWHERE)
    body = {"password": "a-new-Strong-passphrase", "current_password": "wrong-password"}
    for _ in range(MAX_FAILURES):
        response = await client.patch("/profile", json=body, headers=passenger.headers)
        assert_error(response, 403, "invalid_current_password")
    retry_after(await client.patch("/profile", json=body, headers=passenger.headers))
    retry_after(await login(client, passenger.email, passenger.password))


# --- an attacker cannot lock the owner out ---------------------------------------------------


async def test_failures_from_one_address_do_not_lock_the_owner_out_at_home(
    client_at: ClientAt, passenger: TestUser
) -> None:
    await sign_in_from_home(client_at, passenger)
    attacker = client_at(attacker_address(1))
    await fail_logins_patiently(attacker, passenger.email, MAX_FAILURES)
    retry_after(await login(attacker, passenger.email, passenger.password))
    assert (await login(client_at(HOME), passenger.email, passenger.password)).status_code == 200


async def test_an_attack_from_many_addresses_does_not_stop_the_owner_at_their_usual_address(
    client_at: ClientAt, passenger: TestUser
) -> None:
    await sign_in_from_home(client_at, passenger)
    # Forty addresses guess at once, again and again: most are paced away.
    statuses: list[int] = []
    for _round in range(3):
        responses = await asyncio.gather(
            *(
                login(client_at(attacker_address(n)), passenger.email, "wrong-password")
                for n in range(1, 41)
            )
        )
        statuses += [response.status_code for response in responses]
    assert statuses.count(429) > 100
    # The owner at home signs in at once, as often as they like.
    for _ in range(3):
        response = await login(client_at(HOME), passenger.email, passenger.password)
        assert response.status_code == 200, response.text


async def test_a_guessing_attacker_from_many_addresses_is_slowed_to_the_documented_rate(
    client_at: ClientAt, passenger: TestUser
) -> None:
    addresses = (str(IPv4Address("100.64.0.1") + n) for n in itertools.count())

    async def guess() -> httpx.Response:
        return await login(client_at(next(addresses)), passenger.email, "wrong-password")

    # The first few guesses are answered (each from a fresh address).
    for _ in range(PACE_AFTER):
        assert_error(await guess(), 401, "invalid_credentials")
    # Then one at a time: of twenty at once, exactly one reaches the password check.
    started = time.monotonic()
    burst = await asyncio.gather(*(guess() for _ in range(20)))
    assert sorted(r.status_code for r in burst) == [401] + [429] * 19
    # Guessing on, twenty at a time for a few seconds, from ever new addresses: the guesses
    # let through are spaced 2, 4, 8 ... s apart, so in E seconds at most log2(E / 2 + 1) + 1.
    admitted = 1
    while time.monotonic() - started < 5:
        for response in await asyncio.gather(*(guess() for _ in range(20))):
            if response.status_code == 429:
                assert 1 <= retry_after(response) <= PACE_MAX
            else:
                assert_error(response, 401, "invalid_credentials")
                admitted += 1
    elapsed = time.monotonic() - started
    assert 2 <= admitted <= math.log2(elapsed / PACE_FIRST + 1) + 1


async def test_the_owner_from_a_new_address_is_paced_not_refused(
    client_at: ClientAt, passenger: TestUser
) -> None:
    # The free attempts and the first paced one, each from another address of the attacker's.
    for n in range(1, PACE_AFTER + 2):
        await fail_logins_patiently(client_at(attacker_address(n)), passenger.email, 1)
    owner = client_at("198.51.100.99")
    # At worst told to wait the current spacing, never locked out.
    for _ in range(3):
        response = await login(owner, passenger.email, passenger.password)
        if response.status_code != 429:
            break
        await asyncio.sleep(retry_after(response))
    assert response.status_code == 200, response.text


# --- the documented rate ---------------------------------------------------------------------


async def test_spacing_doubles_with_each_paced_attempt_up_to_the_cap() -> None:
    settings = Settings(jwt_secret="s" * 40, login_pace_seconds=1, login_pace_max_seconds=60)
    throttles = LoginThrottles(settings, InProcessStorage())
    assert [throttles.spacing_after(n) for n in range(9)] == [1, 2, 4, 8, 16, 32, 60, 60, 60]
    assert throttles.spacing_after(10_000) == settings.login_pace_max_seconds == 60


async def test_paced_attempts_are_told_the_wait_and_the_next_spacing() -> None:
    settings = Settings(jwt_secret="s" * 40, login_pace_after_attempts=2, login_pace_seconds=1)
    throttles = LoginThrottles(settings, InProcessStorage())
    addresses = (f"192.0.2.{n}" for n in range(1, 255))
    for _ in range(2 + 1):  # the free attempts, then the first paced one (a 1 s gate)
        await throttles.admit("victim@example.com", next(addresses))
    for spacing in (2, 4):
        with pytest.raises(TooManyRequests) as refused:
            await throttles.admit("victim@example.com", next(addresses))
        wait = refused.value.details["retry_after_seconds"]
        assert refused.value.details["pace_seconds"] == spacing
        assert 1 <= wait <= spacing // 2
        await asyncio.sleep(wait)  # as a patient attacker would
        await throttles.admit("victim@example.com", next(addresses))


async def test_counters_are_kept_under_keyed_digests_not_emails_or_addresses(
    client_at: ClientAt, passenger: TestUser, throttled_app: FastAPI
) -> None:
    await sign_in_from_home(client_at, passenger)
    await fail_logins(client_at(ELSEWHERE), passenger.email, 1)
    storage = throttled_app.state.rate_limits.storage
    keys = [*storage.storage, *storage.events]
    assert any("login:pair:" in key for key in keys)
    login_keys = " ".join(key for key in keys if "login:" in key)  # the sign-in throttle
    for secret in (passenger.email, HOME, ELSEWHERE):
        assert secret not in login_keys
