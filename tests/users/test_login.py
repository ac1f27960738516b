"""POST /login with JSON and with the OAuth2 password form."""

from __future__ import annotations

from typing import TYPE_CHECKING

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from tests.conftest import assert_error
from tests.users.factories import PASSWORD, login, register, run_sql

if TYPE_CHECKING:
    from tests.conftest import TestUser

pytestmark = pytest.mark.asyncio(loop_scope="session")


def assert_token_pair(response: httpx.Response) -> dict[str, object]:
    assert response.status_code == 200, response.text
    tokens = response.json()
    assert tokens["token_type"] == "bearer"
    assert tokens["expires_in"] == 15 * 60
    assert isinstance(tokens["access_token"], str) and tokens["access_token"]
    assert isinstance(tokens["refresh_token"], str) and tokens["refresh_token"]
    return tokens


async def test_login_with_json_returns_a_token_pair_that_opens_the_profile(
    client: httpx.AsyncClient, passenger: TestUser
) -> None:
    tokens = assert_token_pair(await login(client, passenger.email, passenger.password))
    profile = await client.get(
        "/profile", headers={"Authorization": f"Bearer {tokens['access_token']}"}
    )
    assert profile.status_code == 200, profile.text
    assert profile.json()["id"] == passenger.id


async def test_login_with_the_oauth2_password_form(
    client: httpx.AsyncClient, passenger: TestUser
) -> None:
    # What the /docs "Authorize" dialog sends.
    form = {
        "grant_type": "password",
        "username": passenger.email,
        "password": passenger.password,
        "scope": "",
    }
    assert_token_pair(await client.post("/login", data=form))


async def test_login_email_is_case_insensitive(client: httpx.AsyncClient) -> None:
    body = await register(client, email="alan.turing@example.com")
    assert_token_pair(await login(client, "  Alan.Turing@EXAMPLE.com", body["password"]))


async def test_wrong_password_and_unknown_email_get_the_same_401(
    client: httpx.AsyncClient, passenger: TestUser
) -> None:
    wrong_password = assert_error(
        await login(client, passenger.email, "not-the-password"), 401, "invalid_credentials"
    )
    unknown_email = assert_error(
        await login(client, "nobody@example.com", PASSWORD), 401, "invalid_credentials"
    )
    assert wrong_password["message"] == unknown_email["message"]


async def test_inactive_user_cannot_sign_in(
    client: httpx.AsyncClient, db: AsyncSession, passenger: TestUser
) -> None:
    await run_sql(db, "update users set is_active = false where id = :id", id=passenger.id)
    response = await login(client, passenger.email, passenger.password)
    assert_error(response, 401, "invalid_credentials")


async def test_login_with_an_unsupported_content_type_is_415(
    client: httpx.AsyncClient, passenger: TestUser
) -> None:
    response = await client.post(
        "/login",
        content=f"{passenger.email}:{passenger.password}",
        headers={"Content-Type": "text/plain"},
    )
    assert_error(response, 415, "unsupported_media_type")


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        pytest.param({"json": {"email": "a@example.com"}}, "body.password", id="json-missing"),
        pytest.param({"json": ["a@example.com", "pw"]}, "body", id="json-not-object"),
        pytest.param(
            {"content": b"{not json", "headers": {"Content-Type": "application/json"}},
            "body",
            id="json-malformed",
        ),
        pytest.param({"data": {"password": "pw"}}, "body.username", id="form-missing"),
    ],
)
async def test_malformed_login_body_is_a_validation_error(
    client: httpx.AsyncClient, kwargs: dict[str, object], field: str
) -> None:
    response = await client.post("/login", **kwargs)  # type: ignore[arg-type]
    error = assert_error(response, 422, "validation_error")
    assert error["details"]["errors"][0]["field"] == field  # type: ignore[index]


async def test_openapi_documents_both_login_bodies(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    operation = spec["paths"]["/login"]["post"]
    content = operation["requestBody"]["content"]
    assert set(content) == {"application/json", "application/x-www-form-urlencoded"}
    assert set(content["application/x-www-form-urlencoded"]["schema"]["required"]) == {
        "username",
        "password",
    }
    for path in ("/register", "/login", "/login/refresh", "/profile"):
        for operation in spec["paths"][path].values():
            assert operation["tags"] == ["users"]
            assert operation["summary"]
