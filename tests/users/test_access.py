"""Access tokens on /profile: missing, forged, expired, or for a user who is gone."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

import httpx
import jwt
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from flightdeck.platform.clock import clock, utcnow
from tests.conftest import assert_error
from tests.users.factories import run_sql

if TYPE_CHECKING:
    from tests.conftest import TestUser

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_profile_without_a_token_is_401(client: httpx.AsyncClient) -> None:
    assert_error(await client.get("/profile"), 401, "not_authenticated")


async def test_token_signed_with_another_secret_is_401(
    client: httpx.AsyncClient, passenger: TestUser
) -> None:
    now = int(utcnow().timestamp())
    claims = {"sub": passenger.id, "role": "admin", "typ": "access", "iat": now, "exp": now + 600}
    forged = jwt.encode(claims, "another-secret-" + "y" * 40, algorithm="HS256")
    response = await client.get("/profile", headers={"Authorization": f"Bearer {forged}"})
    assert_error(response, 401, "invalid_token")


async def test_expired_access_token_is_401(client: httpx.AsyncClient, passenger: TestUser) -> None:
    assert (await client.get("/profile", headers=passenger.headers)).status_code == 200
    clock.advance(timedelta(minutes=16))
    assert_error(await client.get("/profile", headers=passenger.headers), 401, "invalid_token")


@pytest.mark.parametrize(
    "statement",
    [
        pytest.param("update users set is_active = false where id = :id", id="deactivated"),
        pytest.param("delete from users where id = :id", id="deleted"),
    ],
)
async def test_token_of_a_user_who_is_gone_is_401(
    client: httpx.AsyncClient, db: AsyncSession, passenger: TestUser, statement: str
) -> None:
    await run_sql(db, statement, id=passenger.id)
    assert_error(await client.get("/profile", headers=passenger.headers), 401, "invalid_token")
    response = await client.patch("/profile", json={"full_name": "X"}, headers=passenger.headers)
    assert_error(response, 401, "invalid_token")
