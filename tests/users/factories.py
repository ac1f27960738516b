"""Builders for users tests: registration bodies, signed-in sessions and raw-row reads."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy import Row, text
from sqlalchemy.ext.asyncio import AsyncSession

PASSWORD = "blue-Harbor-lights-42"


def unique_email(prefix: str = "user") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}@example.com"


def registration(**overrides: Any) -> dict[str, Any]:
    """A valid /register body; keyword arguments replace or add fields."""
    body: dict[str, Any] = {
        "email": unique_email(),
        "password": PASSWORD,
        "full_name": "Ada Lovelace",
    }
    body.update(overrides)
    return body


async def register(client: httpx.AsyncClient, **overrides: Any) -> dict[str, Any]:
    """Registers a user and returns the body that was sent."""
    body = registration(**overrides)
    response = await client.post("/register", json=body)
    assert response.status_code == 201, response.text
    return body


async def login(client: httpx.AsyncClient, email: str, password: str = PASSWORD) -> httpx.Response:
    return await client.post("/login", json={"email": email, "password": password})


async def refresh(client: httpx.AsyncClient, refresh_token: str) -> httpx.Response:
    return await client.post("/login/refresh", json={"refresh_token": refresh_token})


@dataclass
class SignedIn:
    email: str
    password: str
    access_token: str
    refresh_token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_token}"}


async def sign_in(client: httpx.AsyncClient, **overrides: Any) -> SignedIn:
    """Registers a user and signs in through the API."""
    body = await register(client, **overrides)
    response = await login(client, body["email"], body["password"])
    assert response.status_code == 200, response.text
    tokens = response.json()
    return SignedIn(
        body["email"], body["password"], tokens["access_token"], tokens["refresh_token"]
    )


async def fetch_rows(db: AsyncSession, sql: str, **params: Any) -> list[Row[Any]]:
    """Reads raw rows, then ends the transaction (SQLite writers wait on an open one)."""
    try:
        return list((await db.execute(text(sql), params)).all())
    finally:
        await db.rollback()


async def run_sql(db: AsyncSession, sql: str, **params: Any) -> None:
    """Arranges data with a raw statement and commits it."""
    await db.execute(text(sql), params)
    await db.commit()
