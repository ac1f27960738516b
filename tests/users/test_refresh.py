"""POST /login/refresh: rotation, reuse detection and races."""

from __future__ import annotations

import asyncio
import hashlib
from datetime import timedelta

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from flightdeck.platform.clock import clock
from tests.conftest import assert_error
from tests.users.factories import fetch_rows, login, refresh, sign_in

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_refresh_rotates_the_token_pair(client: httpx.AsyncClient) -> None:
    user = await sign_in(client)
    response = await refresh(client, user.refresh_token)
    assert response.status_code == 200, response.text
    tokens = response.json()
    assert tokens["token_type"] == "bearer"
    assert tokens["refresh_token"] != user.refresh_token
    assert tokens["access_token"] != user.access_token
    headers = {"Authorization": f"Bearer {tokens['access_token']}"}
    assert (await client.get("/profile", headers=headers)).status_code == 200
    # The new refresh token rotates in turn.
    assert (await refresh(client, tokens["refresh_token"])).status_code == 200


async def test_refresh_tokens_are_stored_only_as_sha256(
    client: httpx.AsyncClient, db: AsyncSession
) -> None:
    user = await sign_in(client)
    rows = await fetch_rows(db, "select token_hash from refresh_tokens")
    assert [row.token_hash for row in rows] == [
        hashlib.sha256(user.refresh_token.encode()).hexdigest()
    ]


async def test_reused_refresh_token_revokes_its_whole_family(client: httpx.AsyncClient) -> None:
    user = await sign_in(client)
    newest = (await refresh(client, user.refresh_token)).json()["refresh_token"]
    assert_error(await refresh(client, user.refresh_token), 401, "refresh_token_reused")
    # The token issued by the rotation (possibly the thief's) is dead as well.
    assert_error(await refresh(client, newest), 401, "invalid_refresh_token")


async def test_reuse_leaves_other_sign_ins_alone(client: httpx.AsyncClient) -> None:
    user = await sign_in(client)
    other_device = (await login(client, user.email, user.password)).json()["refresh_token"]
    await refresh(client, user.refresh_token)
    assert_error(await refresh(client, user.refresh_token), 401, "refresh_token_reused")
    assert (await refresh(client, other_device)).status_code == 200


async def test_unknown_refresh_token_is_401(client: httpx.AsyncClient) -> None:
    assert_error(await refresh(client, "not-a-token"), 401, "invalid_refresh_token")


async def test_expired_refresh_token_is_401(client: httpx.AsyncClient) -> None:
    user = await sign_in(client)
    clock.advance(timedelta(days=14, minutes=1))
    assert_error(await refresh(client, user.refresh_token), 401, "invalid_refresh_token")


async def test_empty_refresh_body_is_a_validation_error(client: httpx.AsyncClient) -> None:
    assert_error(await client.post("/login/refresh", json={}), 422, "validation_error")


async def test_two_concurrent_refreshes_with_one_token_only_one_wins(
    client: httpx.AsyncClient, db: AsyncSession
) -> None:
    user = await sign_in(client)
    responses = await asyncio.gather(
        refresh(client, user.refresh_token), refresh(client, user.refresh_token)
    )
    statuses = sorted(response.status_code for response in responses)
    assert statuses == [200, 401], [response.text for response in responses]
    rows = await fetch_rows(
        db, "select count(*) as n from refresh_tokens where used_at is not null"
    )
    assert rows[0].n == 1
