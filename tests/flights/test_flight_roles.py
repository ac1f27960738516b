"""Who may call each flights endpoint: reads are public, writes need an agent or admin."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from tests.conftest import TestUser as AppUser
from tests.conftest import assert_error
from tests.flights.factories import create_flight, flight_payload

pytestmark = pytest.mark.asyncio(loop_scope="session")

FLIGHT = "/flights/{id}"

# (method, path, body) of every endpoint only staff may call.
STAFF_ENDPOINTS: list[tuple[str, str, dict[str, Any] | None]] = [
    ("POST", "/flights", flight_payload(flight_number="FD999")),
    ("PUT", FLIGHT, {"aircraft": "A321"}),
    ("DELETE", FLIGHT, None),
    ("PUT", FLIGHT + "/status", {"status": "on_time", "gate": "A1"}),
    ("GET", FLIGHT + "/status/history", None),
]
PUBLIC_ENDPOINTS = ["/airports?q=JFK", "/flights", FLIGHT, FLIGHT + "/status"]
STAFF_IDS = [f"{method} {path}" for method, path, _ in STAFF_ENDPOINTS]


async def _call(
    client: httpx.AsyncClient,
    method: str,
    path: str,
    body: dict[str, Any] | None,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    return await client.request(method, path, json=body, headers=headers)


@pytest.mark.parametrize(("method", "path", "body"), STAFF_ENDPOINTS, ids=STAFF_IDS)
async def test_staff_endpoint_without_a_token_is_401(
    client: httpx.AsyncClient,
    agent: AppUser,
    method: str,
    path: str,
    body: dict[str, Any] | None,
) -> None:
    flight = await create_flight(client, agent.headers)

    response = await _call(client, method, path.format(id=flight["id"]), body)

    assert_error(response, 401, "not_authenticated")
    assert (await client.get(f"/flights/{flight['id']}")).json() == flight


@pytest.mark.parametrize(("method", "path", "body"), STAFF_ENDPOINTS, ids=STAFF_IDS)
async def test_staff_endpoint_with_a_bad_token_is_401(
    client: httpx.AsyncClient,
    agent: AppUser,
    method: str,
    path: str,
    body: dict[str, Any] | None,
) -> None:
    flight = await create_flight(client, agent.headers)

    response = await _call(
        client, method, path.format(id=flight["id"]), body, {"Authorization": "Bearer nope"}
    )

    assert_error(response, 401, "invalid_token")


@pytest.mark.parametrize(("method", "path", "body"), STAFF_ENDPOINTS, ids=STAFF_IDS)
async def test_passenger_cannot_call_staff_endpoint(
    client: httpx.AsyncClient,
    agent: AppUser,
    passenger: AppUser,
    method: str,
    path: str,
    body: dict[str, Any] | None,
) -> None:
    flight = await create_flight(client, agent.headers)

    response = await _call(client, method, path.format(id=flight["id"]), body, passenger.headers)

    assert_error(response, 403, "forbidden")
    assert (await client.get(f"/flights/{flight['id']}")).json() == flight
    assert len((await client.get("/flights")).json()["items"]) == 1


@pytest.mark.parametrize("role", ["agent", "admin"])
@pytest.mark.parametrize(("method", "path", "body"), STAFF_ENDPOINTS, ids=STAFF_IDS)
async def test_agent_and_admin_may_call_staff_endpoint(
    client: httpx.AsyncClient,
    agent: AppUser,
    admin: AppUser,
    role: str,
    method: str,
    path: str,
    body: dict[str, Any] | None,
) -> None:
    flight = await create_flight(client, agent.headers)
    user = agent if role == "agent" else admin

    response = await _call(client, method, path.format(id=flight["id"]), body, user.headers)

    assert response.status_code in (200, 201, 204), response.text


@pytest.mark.parametrize("path", PUBLIC_ENDPOINTS)
async def test_anyone_may_read(client: httpx.AsyncClient, agent: AppUser, path: str) -> None:
    flight = await create_flight(client, agent.headers)

    response = await client.get(path.format(id=flight["id"]))

    assert response.status_code == 200, response.text
