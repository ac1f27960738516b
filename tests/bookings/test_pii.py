"""Passport numbers and dates of birth are encrypted at rest, idempotent replays included."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from tests.bookings.factories import booking_body, fetch_rows, future_flight
from tests.bookings.stores import stored_passenger_fields
from tests.conftest import TestUser

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_passport_numbers_and_birth_dates_are_stored_encrypted(
    client: httpx.AsyncClient, app: FastAPI, agent: TestUser, passenger: TestUser, db: AsyncSession
) -> None:
    flight = await future_flight(client, agent.headers)
    response = await client.post(
        "/bookings",
        json=booking_body([flight["id"]]),
        headers={**passenger.headers, "Idempotency-Key": "pii-check"},
    )
    assert response.status_code == 201, response.text
    [(passport, born)] = await stored_passenger_fields(app)
    assert passport is not None
    assert passport.startswith("v1:") and "98765" not in passport
    assert born.startswith("v1:") and "1986" not in born
    [(stored_response,)] = await fetch_rows(db, "SELECT response_body FROM idempotency_keys")
    assert stored_response.startswith("v1:") and "98765" not in stored_response
    assert response.json()["passengers"][0]["date_of_birth"] == "1986-12-09"
