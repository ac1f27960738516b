"""Personal data (the phone number) is encrypted in the users table."""

from __future__ import annotations

import base64

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from tests.users.factories import fetch_rows, sign_in

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_phone_is_encrypted_at_rest_and_readable_through_the_api(
    client: httpx.AsyncClient, db: AsyncSession
) -> None:
    user = await sign_in(client, phone="+44 20 7946 0958")
    rows = await fetch_rows(db, "select phone from users where email = :e", e=user.email)
    stored = rows[0].phone
    assert stored.startswith("v1:")
    # The whole number, as text and as the decoded bytes (a short piece such as "7946" can
    # turn up in random base64).
    assert "+442079460958" not in stored
    _, _, blob = stored.split(":", 2)
    assert b"+442079460958" not in base64.urlsafe_b64decode(blob)
    profile = (await client.get("/profile", headers=user.headers)).json()
    assert profile["phone"] == "+442079460958"


async def test_updated_phone_is_encrypted_too(client: httpx.AsyncClient, db: AsyncSession) -> None:
    user = await sign_in(client)
    response = await client.patch("/profile", json={"phone": "555-123-4567"}, headers=user.headers)
    assert response.status_code == 200, response.text
    rows = await fetch_rows(db, "select phone from users where email = :e", e=user.email)
    assert rows[0].phone.startswith("v1:") and "5551234567" not in rows[0].phone
