"""GET and PATCH /profile, including the password change."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from tests.conftest import assert_error
from tests.users.factories import PASSWORD, SignedIn, login, refresh, sign_in

if TYPE_CHECKING:
    from tests.conftest import TestUser

pytestmark = pytest.mark.asyncio(loop_scope="session")

NEW_PASSWORD = "another-Strong-passphrase"


async def patch_profile(
    client: httpx.AsyncClient, user: SignedIn, body: dict[str, Any]
) -> httpx.Response:
    return await client.patch("/profile", json=body, headers=user.headers)


async def test_profile_shows_the_signed_in_user(client: httpx.AsyncClient) -> None:
    user = await sign_in(client, full_name="Mary Jackson")
    response = await client.get("/profile", headers=user.headers)
    assert response.status_code == 200, response.text
    profile = response.json()
    assert set(profile) >= {
        "id",
        "email",
        "full_name",
        "phone",
        "role",
        "notification_preferences",
        "created_at",
    }
    assert (profile["email"], profile["full_name"], profile["role"]) == (
        user.email,
        "Mary Jackson",
        "passenger",
    )
    assert profile["phone"] is None
    assert profile["notification_preferences"] == {"email": True, "push": True}
    assert datetime.fromisoformat(profile["created_at"]).utcoffset() is not None


async def test_profile_update_changes_only_the_given_fields(client: httpx.AsyncClient) -> None:
    user = await sign_in(client, phone="+1 202 555 0100")
    response = await patch_profile(
        client,
        user,
        {"full_name": " Dorothy Vaughan ", "notification_preferences": {"push": False}},
    )
    assert response.status_code == 200, response.text
    profile = response.json()
    assert profile["full_name"] == "Dorothy Vaughan"
    assert profile["phone"] == "+12025550100"
    assert profile["notification_preferences"] == {"email": True, "push": False}
    assert (await client.get("/profile", headers=user.headers)).json() == profile


async def test_phone_null_removes_the_phone(client: httpx.AsyncClient) -> None:
    user = await sign_in(client, phone="+1 202 555 0100")
    response = await patch_profile(client, user, {"phone": None})
    assert response.status_code == 200, response.text
    assert response.json()["phone"] is None


async def test_empty_profile_update_changes_nothing(client: httpx.AsyncClient) -> None:
    user = await sign_in(client)
    before = (await client.get("/profile", headers=user.headers)).json()
    response = await patch_profile(client, user, {})
    assert response.status_code == 200, response.text
    assert response.json() == before


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"notification_preferences": {"sms": True}}, id="unknown-channel"),
        pytest.param({"notification_preferences": {"email": "yes"}}, id="not-a-boolean"),
        pytest.param({"full_name": None}, id="null-name"),
        pytest.param({"full_name": ""}, id="blank-name"),
        pytest.param({"phone": "12"}, id="short-phone"),
        pytest.param({"role": "admin"}, id="role"),
        pytest.param({"password": NEW_PASSWORD}, id="password-without-current"),
    ],
)
async def test_invalid_profile_update_is_a_validation_error(
    client: httpx.AsyncClient, passenger: TestUser, body: dict[str, Any]
) -> None:
    response = await client.patch("/profile", json=body, headers=passenger.headers)
    assert_error(response, 422, "validation_error")


async def test_password_change_needs_the_right_current_password(
    client: httpx.AsyncClient,
) -> None:
    user = await sign_in(client)
    response = await patch_profile(
        client,
        user,
        {"password": NEW_PASSWORD, "current_password": "wrong-password", "full_name": "Changed"},
    )
    assert_error(response, 403, "invalid_current_password")
    # Nothing of the rejected update was applied.
    assert (await login(client, user.email, PASSWORD)).status_code == 200
    assert (await client.get("/profile", headers=user.headers)).json()["full_name"] != "Changed"


async def test_new_password_must_pass_the_policy(client: httpx.AsyncClient) -> None:
    user = await sign_in(client)
    response = await patch_profile(
        client, user, {"password": "too-short", "current_password": PASSWORD}
    )
    assert_error(response, 422, "weak_password")
    assert (await login(client, user.email, PASSWORD)).status_code == 200


async def test_password_change_ends_every_refresh_token_family(client: httpx.AsyncClient) -> None:
    user = await sign_in(client)
    other_device = (await login(client, user.email, PASSWORD)).json()["refresh_token"]
    response = await patch_profile(
        client, user, {"password": NEW_PASSWORD, "current_password": PASSWORD}
    )
    assert response.status_code == 200, response.text
    for token in (user.refresh_token, other_device):
        assert_error(await refresh(client, token), 401, "invalid_refresh_token")
    assert_error(await login(client, user.email, PASSWORD), 401, "invalid_credentials")
    assert (await login(client, user.email, NEW_PASSWORD)).status_code == 200
