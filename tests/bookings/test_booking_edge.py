"""Holds are answered before routing (bookings/edge.py) when their body and header validate,
exactly as the route answers them, errors included; everything else goes on to the route
with its body intact. A JSON content type other than `application/json` (which FastAPI
reads and the edge does not) sends the same request to the route, so the two answers are
compared side by side."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from flightdeck.bookings import holds
from tests.bookings.edge_answers import answer_counts, assert_same_answer
from tests.bookings.factories import booking_body, future_flight, seats_available, traveller
from tests.conftest import TestUser, assert_error

pytestmark = pytest.mark.asyncio(loop_scope="session")

TO_THE_ROUTE = "application/vnd.flightdeck+json"  # JSON to FastAPI, not to the edge


def answers() -> tuple[float, float]:
    return answer_counts("flightdeck_hold_answers_total")


async def _post(
    client: httpx.AsyncClient,
    body: dict[str, Any],
    headers: dict[str, str],
    content_type: str = "application/json",
) -> httpx.Response:
    return await client.post(
        "/bookings",
        content=json.dumps(body).encode(),
        headers={**headers, "Content-Type": content_type},
    )


async def test_a_hold_that_validates_is_answered_before_routing(
    client: httpx.AsyncClient, agent: TestUser, passenger: TestUser
) -> None:
    flight = await future_flight(client, agent.headers)
    edge, route = answers()
    response = await _post(client, booking_body([flight["id"]], 2), passenger.headers)
    assert response.status_code == 201, response.text
    assert answers() == (edge + 1, route)
    assert response.json()["status"] == "pending_payment"
    assert await seats_available(client, flight["id"]) == 148

    by_route = await _post(client, booking_body([flight["id"]], 2), passenger.headers, TO_THE_ROUTE)
    assert by_route.status_code == 201, by_route.text
    assert answers() == (edge + 1, route + 1)
    assert_same_answer(response, by_route)
    mine, theirs = response.json(), by_route.json()
    for varying in ("id", "pnr", "created_at", "updated_at", "hold_expires_at"):
        mine.pop(varying), theirs.pop(varying)
    assert mine == theirs
    assert await seats_available(client, flight["id"]) == 146


async def test_an_error_of_the_hold_is_answered_at_the_edge_as_the_route_answers_it(
    client: httpx.AsyncClient, agent: TestUser, passenger: TestUser
) -> None:
    full = await future_flight(client, agent.headers, economy_seats=1)
    for body, status, code in (
        (booking_body(["no-such-flight"]), 422, "unknown_flight"),
        (booking_body([full["id"]], 2), 409, "seats_unavailable"),
    ):
        edge, route = answers()
        at_edge = await _post(client, body, passenger.headers)
        assert answers() == (edge + 1, route)
        by_route = await _post(client, body, passenger.headers, TO_THE_ROUTE)
        assert answers() == (edge + 1, route + 1)
        assert assert_error(at_edge, status, code) == assert_error(by_route, status, code)
        assert_same_answer(at_edge, by_route)
    assert await seats_available(client, full["id"]) == 1


async def test_without_a_token_the_edge_answers_401(
    client: httpx.AsyncClient, agent: TestUser
) -> None:
    flight = await future_flight(client, agent.headers)
    edge, route = answers()
    response = await _post(client, booking_body([flight["id"]]), {})
    assert answers() == (edge + 1, route)
    assert_error(response, 401, "not_authenticated")
    assert await seats_available(client, flight["id"]) == 150


@pytest.mark.parametrize(
    "change",
    [
        {"cabin": "steerage"},
        {"passengers": [traveller(0, seats=["12A", "12B"])]},
        {"segments": []},
    ],
)
async def test_a_body_that_does_not_validate_goes_to_the_route_with_its_body(
    client: httpx.AsyncClient, agent: TestUser, passenger: TestUser, change: dict[str, Any]
) -> None:
    flight = await future_flight(client, agent.headers)
    edge, route = answers()
    response = await _post(client, {**booking_body([flight["id"]]), **change}, passenger.headers)
    assert answers() == (edge, route)  # the route was never called: its parameters failed
    error = assert_error(response, 422, "validation_error")
    # FastAPI read the body the edge had read: the errors name its fields.
    details = error["details"]
    assert isinstance(details, dict)
    assert all(e["field"].startswith("body") for e in details["errors"]), details
    # Without a token the route's 401 still comes before the 422.
    unsigned = await _post(client, {**booking_body([flight["id"]]), **change}, {})
    assert_error(unsigned, 401, "not_authenticated")
    assert await seats_available(client, flight["id"]) == 150


@pytest.mark.parametrize(
    ("content", "status", "code"),
    [
        (b'{"segments": [', 422, "validation_error"),  # cut short
        (b"[" * 100_000, 400, "invalid_body"),  # nested past what json.loads can read
        (b'{"cabin": "\xff\xfe"}', 400, "invalid_body"),  # not UTF-8
        (b'"a string"', 422, "validation_error"),
    ],
)
async def test_json_that_does_not_parse_goes_to_the_route(
    client: httpx.AsyncClient, passenger: TestUser, content: bytes, status: int, code: str
) -> None:
    edge, route = answers()
    response = await client.post(
        "/bookings",
        content=content,
        headers={**passenger.headers, "Content-Type": "application/json"},
    )
    assert answers() == (edge, route)
    assert_error(response, status, code)


async def test_a_bad_idempotency_key_goes_to_the_route(
    client: httpx.AsyncClient, agent: TestUser, passenger: TestUser
) -> None:
    flight = await future_flight(client, agent.headers)
    edge, route = answers()
    headers = {**passenger.headers, "Idempotency-Key": "k" * 256}
    response = await _post(client, booking_body([flight["id"]]), headers)
    assert answers() == (edge, route)
    error = assert_error(response, 422, "validation_error")
    assert "idempotency-key" in json.dumps(error).lower()
    assert await seats_available(client, flight["id"]) == 150


async def test_a_body_without_a_declared_length_goes_to_the_route(
    client: httpx.AsyncClient, agent: TestUser, passenger: TestUser
) -> None:
    flight = await future_flight(client, agent.headers)
    body = json.dumps(booking_body([flight["id"]])).encode()

    async def chunks() -> AsyncIterator[bytes]:
        yield body[:10]
        yield body[10:]

    edge, route = answers()
    response = await client.post(
        "/bookings",
        content=chunks(),
        headers={**passenger.headers, "Content-Type": "application/json"},
    )
    assert response.status_code == 201, response.text
    assert answers() == (edge, route + 1)
    assert await seats_available(client, flight["id"]) == 149


async def test_an_unexpected_error_at_the_edge_is_a_500_as_from_the_route(
    client: httpx.AsyncClient,
    agent: TestUser,
    passenger: TestUser,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    flight = await future_flight(client, agent.headers)

    async def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("the store broke")

    monkeypatch.setattr(holds, "create_booking", broken)
    edge, route = answers()
    at_edge = await _post(client, booking_body([flight["id"]]), passenger.headers)
    assert answers() == (edge, route)  # raised on up, as from the route
    by_route = await _post(client, booking_body([flight["id"]]), passenger.headers, TO_THE_ROUTE)
    assert answers() == (edge, route + 1)
    assert assert_error(at_edge, 500, "internal_error") == assert_error(
        by_route, 500, "internal_error"
    )
    monkeypatch.undo()
    assert await seats_available(client, flight["id"]) == 150
