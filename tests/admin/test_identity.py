"""Identity on every request: the token's user must still exist, be active and hold the
role now (not when the token was issued); a password change or a deactivation ends every
access token; a deactivated user's refresh tokens are revoked."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI

from flightdeck.platform.db import new_id
from flightdeck.platform.security.tokens import issue_access_token
from tests.conftest import TestUser, assert_error, create_user
from tests.flights.factories import flight_payload
from tests.users.factories import PASSWORD, login, refresh, sign_in

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def _set_access(
    client: httpx.AsyncClient, admin: TestUser, user_id: str, **changes: object
) -> httpx.Response:
    return await client.patch(f"/admin/users/{user_id}", json=changes, headers=admin.headers)


async def test_a_demoted_agent_gets_403_on_the_next_request(
    client: httpx.AsyncClient, admin: TestUser, agent: TestUser
) -> None:
    created = await client.post("/flights", json=flight_payload(), headers=agent.headers)
    assert created.status_code == 201, created.text
    response = await _set_access(client, admin, agent.id, role="passenger")
    assert response.status_code == 200, response.text
    assert response.json()["role"] == "passenger"
    again = await client.post(
        "/flights", json=flight_payload(flight_number="FD102"), headers=agent.headers
    )
    assert_error(again, 403, "forbidden")
    # Still signed in: the same token reaches what a passenger may.
    assert (await client.get("/profile", headers=agent.headers)).status_code == 200


async def test_a_promoted_user_gets_the_new_role_with_the_token_they_hold(
    client: httpx.AsyncClient, admin: TestUser, passenger: TestUser
) -> None:
    before = await client.post("/flights", json=flight_payload(), headers=passenger.headers)
    assert_error(before, 403)
    assert (await _set_access(client, admin, passenger.id, role="agent")).status_code == 200
    after = await client.post("/flights", json=flight_payload(), headers=passenger.headers)
    assert after.status_code == 201, after.text


async def test_a_deactivated_user_is_signed_out_everywhere(
    client: httpx.AsyncClient, admin: TestUser
) -> None:
    user = await sign_in(client)
    other_device = (await login(client, user.email)).json()
    profile = await client.get("/profile", headers=user.headers)
    user_id = profile.json()["id"]
    response = await _set_access(client, admin, user_id, active=False)
    assert response.status_code == 200 and response.json()["active"] is False
    assert_error(await client.get("/profile", headers=user.headers), 401, "invalid_token")
    bearer = {"Authorization": f"Bearer {other_device['access_token']}"}
    assert_error(await client.get("/bookings", headers=bearer), 401, "invalid_token")
    for token in (user.refresh_token, other_device["refresh_token"]):
        assert_error(await refresh(client, token), 401, "invalid_refresh_token")
    assert_error(await login(client, user.email), 401, "invalid_credentials")


async def test_a_reactivated_user_signs_in_again_but_old_tokens_stay_dead(
    client: httpx.AsyncClient, admin: TestUser
) -> None:
    user = await sign_in(client)
    user_id = (await client.get("/profile", headers=user.headers)).json()["id"]
    await _set_access(client, admin, user_id, active=False)
    assert (await _set_access(client, admin, user_id, active=True)).status_code == 200
    assert_error(await client.get("/profile", headers=user.headers), 401, "invalid_token")
    fresh = await login(client, user.email)
    assert fresh.status_code == 200, fresh.text
    bearer = {"Authorization": f"Bearer {fresh.json()['access_token']}"}
    assert (await client.get("/profile", headers=bearer)).status_code == 200


async def test_a_password_change_ends_every_access_token(client: httpx.AsyncClient) -> None:
    user = await sign_in(client)
    other_device = (await login(client, user.email)).json()["access_token"]
    changed = await client.patch(
        "/profile",
        json={"password": "a-whole-new-Passphrase", "current_password": PASSWORD},
        headers=user.headers,
    )
    assert changed.status_code == 200, changed.text
    for token in (user.access_token, other_device):
        bearer = {"Authorization": f"Bearer {token}"}
        assert_error(await client.get("/profile", headers=bearer), 401, "invalid_token")
    fresh = await login(client, user.email, "a-whole-new-Passphrase")
    bearer = {"Authorization": f"Bearer {fresh.json()['access_token']}"}
    assert (await client.get("/profile", headers=bearer)).status_code == 200


async def test_a_token_for_a_user_that_does_not_exist_is_refused(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    token, _ = issue_access_token(app.state.settings, new_id(), "admin")
    bearer = {"Authorization": f"Bearer {token}"}
    assert_error(await client.get("/admin/users", headers=bearer), 401, "invalid_token")
    assert_error(await client.post("/flights", json=flight_payload(), headers=bearer), 401)


async def test_the_role_comes_from_the_user_not_from_the_token(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    passenger = await create_user(app, "passenger")
    token, _ = issue_access_token(app.state.settings, passenger.id, "admin")
    bearer = {"Authorization": f"Bearer {token}"}
    assert_error(await client.get("/admin/users", headers=bearer), 403, "forbidden")


async def test_an_admin_cannot_demote_or_deactivate_themselves(
    client: httpx.AsyncClient, admin: TestUser
) -> None:
    assert_error(
        await _set_access(client, admin, admin.id, role="agent"), 409, "own_access_unchangeable"
    )
    assert_error(
        await _set_access(client, admin, admin.id, active=False), 409, "own_access_unchangeable"
    )
    assert (await client.get("/admin/users", headers=admin.headers)).status_code == 200


async def test_changing_an_unknown_user_is_404_and_a_bad_change_422(
    client: httpx.AsyncClient, admin: TestUser, passenger: TestUser
) -> None:
    assert_error(await _set_access(client, admin, new_id(), role="agent"), 404, "user_not_found")
    for body in ({}, {"role": "pilot"}, {"active": "yes"}, {"role": None}, {"email": "x@y.z"}):
        response = await client.patch(
            f"/admin/users/{passenger.id}", json=body, headers=admin.headers
        )
        assert_error(response, 422, "validation_error")
