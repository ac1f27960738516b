"""/readyz checks the MongoDB bookings store when one is configured."""

from __future__ import annotations

import httpx
import pytest

pytestmark = pytest.mark.asyncio(loop_scope="session")


@pytest.mark.parametrize("booking_store", ["mongo"], indirect=True)
async def test_readyz_checks_the_mongodb_bookings_store(client: httpx.AsyncClient) -> None:
    response = await client.get("/readyz")
    assert response.status_code == 200
    assert response.json()["checks"] == {"database": "ok", "bookings_store": "ok"}


@pytest.mark.parametrize("booking_store", ["sql"], indirect=True)
async def test_readyz_has_no_store_check_when_bookings_live_in_sql(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/readyz")
    assert response.json()["checks"] == {"database": "ok"}
