"""Idempotency-Key on POST /bookings: replay, reuse with another body, races, expiry."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from flightdeck.platform.clock import clock
from flightdeck.platform.security.tokens import issue_access_token
from tests.bookings.factories import booking_body, fetch_rows, future_flight, seats_available
from tests.bookings.stores import count_stored_bookings
from tests.conftest import TestUser, assert_error

pytestmark = pytest.mark.asyncio(loop_scope="session")


def with_key(headers: dict[str, str], key: str) -> dict[str, str]:
    return {**headers, "Idempotency-Key": key}


async def test_the_same_key_and_body_replay_the_first_booking(
    client: httpx.AsyncClient, agent: TestUser, passenger: TestUser
) -> None:
    flight = await future_flight(client, agent.headers)
    body = booking_body([flight["id"]], passengers=2)
    headers = with_key(passenger.headers, "trip-2026-12")
    first = await client.post("/bookings", json=body, headers=headers)
    again = await client.post("/bookings", json=body, headers=headers)
    assert first.status_code == again.status_code == 201, again.text
    assert "Idempotent-Replayed" not in first.headers
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert await seats_available(client, flight["id"]) == 148
    listed = (await client.get("/bookings", headers=passenger.headers)).json()["items"]
    assert [b["id"] for b in listed] == [first.json()["id"]]


async def test_the_same_key_with_another_body_is_409(
    client: httpx.AsyncClient, agent: TestUser, passenger: TestUser
) -> None:
    flight = await future_flight(client, agent.headers)
    headers = with_key(passenger.headers, "trip-2026-12")
    first = await client.post("/bookings", json=booking_body([flight["id"]]), headers=headers)
    assert first.status_code == 201, first.text
    other = await client.post(
        "/bookings", json=booking_body([flight["id"]], passengers=2), headers=headers
    )
    assert_error(other, 409, "idempotency_key_reused")
    assert await seats_available(client, flight["id"]) == 149


async def test_keys_belong_to_their_user(
    client: httpx.AsyncClient, agent: TestUser, passenger: TestUser
) -> None:
    flight = await future_flight(client, agent.headers)
    body = booking_body([flight["id"]])
    mine = await client.post("/bookings", json=body, headers=with_key(passenger.headers, "k1"))
    theirs = await client.post("/bookings", json=body, headers=with_key(agent.headers, "k1"))
    assert mine.status_code == theirs.status_code == 201
    assert "Idempotent-Replayed" not in theirs.headers
    assert mine.json()["id"] != theirs.json()["id"]


async def test_a_failed_request_keeps_no_key_and_may_be_retried(
    client: httpx.AsyncClient, agent: TestUser, passenger: TestUser, db: AsyncSession
) -> None:
    headers = with_key(passenger.headers, "retry-me")
    failed = await client.post("/bookings", json=booking_body(["missing"]), headers=headers)
    assert_error(failed, 422, "unknown_flight")
    assert await fetch_rows(db, "SELECT id FROM idempotency_keys") == []
    flight = await future_flight(client, agent.headers)
    retried = await client.post("/bookings", json=booking_body([flight["id"]]), headers=headers)
    assert retried.status_code == 201, retried.text


async def test_concurrent_requests_with_one_key_create_one_booking(
    client: httpx.AsyncClient, app: FastAPI, agent: TestUser, passenger: TestUser
) -> None:
    flight = await future_flight(client, agent.headers)
    body = booking_body([flight["id"]])
    headers = with_key(passenger.headers, "double-click")
    responses = await asyncio.gather(
        *(client.post("/bookings", json=body, headers=headers) for _ in range(8))
    )
    created = [r for r in responses if r.status_code == 201]
    assert len(created) + sum(r.status_code == 409 for r in responses) == 8
    assert {r.json()["id"] for r in created} == {created[0].json()["id"]}
    for response in responses:
        if response.status_code == 409:
            assert_error(response, 409, "idempotency_request_in_progress")
    assert await seats_available(client, flight["id"]) == 149
    assert await count_stored_bookings(app) == 1


async def test_a_key_expires_after_24_hours(
    client: httpx.AsyncClient, app: FastAPI, agent: TestUser, passenger: TestUser
) -> None:
    flight = await future_flight(client, agent.headers, departs_in=timedelta(days=5))
    body = booking_body([flight["id"]])
    first = await client.post(
        "/bookings", json=body, headers=with_key(passenger.headers, "old-key")
    )
    clock.advance(timedelta(hours=24, minutes=1))
    token, _ = issue_access_token(app.state.settings, passenger.id, "passenger")
    headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": "old-key"}
    later = await client.post("/bookings", json=body, headers=headers)
    assert first.status_code == later.status_code == 201, later.text
    assert "Idempotent-Replayed" not in later.headers
    assert later.json()["id"] != first.json()["id"]


async def test_an_overlong_key_is_422(client: httpx.AsyncClient, agent: TestUser) -> None:
    flight = await future_flight(client, agent.headers)
    response = await client.post(
        "/bookings", json=booking_body([flight["id"]]), headers=with_key(agent.headers, "k" * 256)
    )
    assert_error(response, 422, "validation_error")
