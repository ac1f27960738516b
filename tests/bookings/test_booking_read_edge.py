"""Reads of one booking are answered before routing (bookings/edge.py) when the reference
validates as the route's path parameter, exactly as the route answers them, errors
included; everything else goes on to the route. A query string (which the route ignores)
sends the same read to the route, so the two answers are compared side by side."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from flightdeck.bookings import service
from tests.bookings.edge_answers import answer_counts, assert_same_answer
from tests.bookings.factories import book, booking_body, future_flight
from tests.conftest import TestUser, assert_error, create_user

pytestmark = pytest.mark.asyncio(loop_scope="session")

TO_THE_ROUTE = {"via": "route"}


def answers() -> tuple[float, float]:
    return answer_counts("flightdeck_booking_read_answers_total")


async def _both(
    client: httpx.AsyncClient, reference: str, headers: dict[str, str]
) -> tuple[httpx.Response, httpx.Response]:
    """The read answered at the edge, then by the route (each counted where expected)."""
    edge, route = answers()
    at_edge = await client.get(f"/bookings/{reference}", headers=headers)
    assert answers() == (edge + 1, route)
    by_route = await client.get(f"/bookings/{reference}", headers=headers, params=TO_THE_ROUTE)
    assert answers() == (edge + 1, route + 1)
    assert_same_answer(at_edge, by_route)
    assert at_edge.content == by_route.content
    return at_edge, by_route


async def test_a_read_is_answered_before_routing_as_the_route_answers_it(
    client: httpx.AsyncClient, agent: TestUser, passenger: TestUser
) -> None:
    flight = await future_flight(client, agent.headers)
    booking = await book(client, passenger.headers, booking_body([flight["id"]]))
    for reference in (booking["id"], booking["pnr"], booking["pnr"].lower()):
        at_edge, _ = await _both(client, reference, passenger.headers)
        assert at_edge.status_code == 200, at_edge.text
        assert at_edge.json() == booking
    # Staff see it with the passport masked, at the edge as from the route.
    at_edge, _ = await _both(client, booking["pnr"], agent.headers)
    assert at_edge.json()["passengers"][0]["passport_number"] == "•••••8765"


async def test_errors_of_a_read_are_answered_at_the_edge_as_the_route_answers_them(
    client: httpx.AsyncClient, app: FastAPI, agent: TestUser, passenger: TestUser
) -> None:
    flight = await future_flight(client, agent.headers)
    booking = await book(client, passenger.headers, booking_body([flight["id"]]))
    stranger = await create_user(app, "passenger")
    for reference, headers, status, code in (
        (booking["id"], stranger.headers, 404, "booking_not_found"),  # another's booking
        ("ABCDEF", passenger.headers, 404, "booking_not_found"),
        (booking["id"], {}, 401, "not_authenticated"),
        (booking["id"], {"Authorization": "Bearer not-a-token"}, 401, "invalid_token"),
    ):
        at_edge, by_route = await _both(client, reference, headers)
        assert assert_error(at_edge, status, code) == assert_error(by_route, status, code)


@pytest.mark.parametrize("reference", ["x" * 65, "a.b", "abc%0A", "%20abc", "%C3%A9"])
async def test_a_reference_that_does_not_validate_goes_to_the_route(
    client: httpx.AsyncClient, passenger: TestUser, reference: str
) -> None:
    edge, route = answers()
    response = await client.get(f"/bookings/{reference}", headers=passenger.headers)
    assert answers() == (edge, route)  # the route was never called: its path failed
    error = assert_error(response, 422, "validation_error")
    assert "booking_id" in str(error["details"])


async def test_a_path_with_a_slash_in_the_reference_matches_no_route(
    client: httpx.AsyncClient, passenger: TestUser
) -> None:
    edge, route = answers()
    response = await client.get("/bookings/ab%2Fcd", headers=passenger.headers)
    assert answers() == (edge, route)
    assert_error(response, 404)


async def test_other_routes_under_a_booking_are_not_taken(
    client: httpx.AsyncClient, agent: TestUser, passenger: TestUser
) -> None:
    flight = await future_flight(client, agent.headers)
    booking = await book(client, passenger.headers, booking_body([flight["id"]]))
    edge, route = answers()
    quote = await client.get(f"/bookings/{booking['id']}/cancellation", headers=passenger.headers)
    assert quote.status_code == 200, quote.text
    listed = await client.get("/bookings", headers=passenger.headers)
    assert [b["id"] for b in listed.json()["items"]] == [booking["id"]]
    cancelled = await client.delete(f"/bookings/{booking['id']}", headers=passenger.headers)
    assert cancelled.status_code == 200, cancelled.text
    assert answers() == (edge, route)


async def test_an_unexpected_error_at_the_edge_is_a_500_as_from_the_route(
    client: httpx.AsyncClient,
    agent: TestUser,
    passenger: TestUser,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    flight = await future_flight(client, agent.headers)
    booking = await book(client, passenger.headers, booking_body([flight["id"]]))

    async def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("the store broke")

    monkeypatch.setattr(service, "get_booking", broken)
    edge, route = answers()
    at_edge = await client.get(f"/bookings/{booking['id']}", headers=passenger.headers)
    assert answers() == (edge, route)  # raised on up, as from the route
    by_route = await client.get(
        f"/bookings/{booking['id']}", headers=passenger.headers, params=TO_THE_ROUTE
    )
    assert answers() == (edge, route + 1)
    assert assert_error(at_edge, 500, "internal_error") == assert_error(
        by_route, 500, "internal_error"
    )
