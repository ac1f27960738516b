"""POST /register and the create_user service the CLI calls."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from flightdeck.platform.errors import Unprocessable
from flightdeck.users import service
from flightdeck.users.errors import EmailTaken, InvalidRole, WeakPassword
from tests.conftest import assert_error
from tests.users.factories import PASSWORD, fetch_rows, register, registration, sign_in

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_register_creates_a_passenger(client: httpx.AsyncClient) -> None:
    body = registration()
    response = await client.post("/register", json=body)
    assert response.status_code == 201, response.text
    user = response.json()
    assert set(user) == {"id", "email", "full_name", "role"}
    assert user["email"] == body["email"]
    assert user["full_name"] == "Ada Lovelace"
    assert user["role"] == "passenger"


async def test_register_cannot_choose_a_role(client: httpx.AsyncClient) -> None:
    response = await client.post("/register", json=registration(role="admin"))
    assert_error(response, 422, "validation_error")


async def test_duplicate_email_is_a_conflict_whatever_the_case(
    client: httpx.AsyncClient, db: AsyncSession
) -> None:
    await register(client, email="Grace.Hopper@Example.com")
    response = await client.post("/register", json=registration(email="grace.hopper@example.COM"))
    assert_error(response, 409, "email_taken")
    rows = await fetch_rows(db, "select email from users")
    assert [row.email for row in rows] == ["grace.hopper@example.com"]


@pytest.mark.parametrize(
    "password",
    [
        pytest.param("short-pw1", id="too-short"),
        pytest.param("x" * 129, id="too-long"),
        pytest.param("margaret.hamilton", id="equals-email-local-part"),
        pytest.param("My-MARGARET.Hamilton-99", id="contains-email-local-part"),
    ],
)
async def test_weak_password_is_rejected(client: httpx.AsyncClient, password: str) -> None:
    body = registration(email="margaret.hamilton@example.com", password=password)
    response = await client.post("/register", json=body)
    assert_error(response, 422, "weak_password")


async def test_short_email_local_part_does_not_forbid_passwords_containing_it(
    client: httpx.AsyncClient,
) -> None:
    # "jo" appears in many ordinary words; only local parts of 3+ characters are checked.
    response = await client.post(
        "/register", json=registration(email="jo@example.com", password="enjoy-the-flight")
    )
    assert response.status_code == 201, response.text


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("email", "not-an-email"),
        ("full_name", "   "),
        ("full_name", "x" * 201),
        ("phone", "call me maybe"),
        ("phone", "(((((())))))"),
    ],
)
async def test_invalid_field_is_a_validation_error(
    client: httpx.AsyncClient, field: str, value: str
) -> None:
    response = await client.post("/register", json=registration(**{field: value}))
    error = assert_error(response, 422, "validation_error")
    assert error["details"]["errors"][0]["field"] == f"body.{field}"  # type: ignore[index]


async def test_name_is_stripped_and_phone_normalised(client: httpx.AsyncClient) -> None:
    user = await sign_in(client, full_name="  Katherine Johnson ", phone="+1 (415) 555-0123")
    profile = (await client.get("/profile", headers=user.headers)).json()
    assert profile["full_name"] == "Katherine Johnson"
    assert profile["phone"] == "+14155550123"


async def test_password_is_stored_as_argon2id(client: httpx.AsyncClient, db: AsyncSession) -> None:
    body = await register(client)
    rows = await fetch_rows(db, "select password_hash from users where email = :e", e=body["email"])
    assert rows[0].password_hash.startswith("$argon2id$")
    assert PASSWORD not in rows[0].password_hash


async def test_create_user_allows_staff_roles(client: httpx.AsyncClient, db: AsyncSession) -> None:
    user = await service.create_user(
        db, email="Ops@Example.com", password=PASSWORD, full_name="Ops Agent", role="agent"
    )
    await db.commit()
    assert (user.email, user.role) == ("ops@example.com", "agent")
    response = await client.post("/login", json={"email": "ops@example.com", "password": PASSWORD})
    assert response.status_code == 200, response.text


async def test_create_user_applies_registration_rules(
    client: httpx.AsyncClient, db: AsyncSession
) -> None:
    await register(client, email="taken@example.com")
    cases: list[tuple[type[Exception], dict[str, str]]] = [
        (InvalidRole, {"role": "pilot"}),
        (WeakPassword, {"password": "short"}),
        (EmailTaken, {"email": "TAKEN@example.com"}),
        (Unprocessable, {"email": "nope"}),
    ]
    for error, override in cases:
        fields = {"email": "new@example.com", "password": PASSWORD, "full_name": "New"}
        fields["role"] = "admin"
        fields.update(override)
        with pytest.raises(error):
            await service.create_user(db, **fields)
        await db.rollback()
    rows = await fetch_rows(db, "select email from users")
    assert [row.email for row in rows] == ["taken@example.com"]
