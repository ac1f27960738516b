"""The cancellations report counts the same bookings whichever store holds them (SQL: a
GROUP BY; MongoDB: an aggregation pipeline): cancelled by the passenger, by staff, by the
airline (a flight cancelled), and holds that ran out; with the refunds paid."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from flightdeck.bookings.sweeper import release_expired_holds
from flightdeck.platform.clock import clock
from tests.admin.month_seed import headers
from tests.bookings.factories import book, booking_body, future_flight
from tests.conftest import TestUser, create_user
from tests.payments.factories import fresh_headers, paid, refund_settled

pytestmark = pytest.mark.asyncio(loop_scope="session")


def _week(day: str) -> str:
    value = date.fromisoformat(day)
    return (value - timedelta(days=value.weekday())).isoformat()


async def test_cancellations_are_counted_alike_in_either_store(
    store_app: FastAPI, store_client: httpx.AsyncClient, admin: TestUser, agent: TestUser
) -> None:
    owner = await create_user(store_app, "passenger")
    to_london = await future_flight(store_client, agent.headers)
    to_paris = await future_flight(
        store_client, agent.headers, flight_number="FD202", origin="LHR", destination="CDG",
        departs_in=timedelta(days=6), economy_fare=12000,
    )  # fmt: skip
    to_chicago = await future_flight(
        store_client, agent.headers, flight_number="FD301", destination="ORD",
        departs_in=timedelta(days=9), economy_fare=23000,
    )  # fmt: skip
    by_passenger = await book(store_client, owner.headers, booking_body([to_london["id"]], 2))
    passenger_paid = await paid(store_client, owner.headers, by_passenger["id"])
    await store_client.delete(f"/bookings/{by_passenger['id']}", headers=owner.headers)
    by_staff = await book(store_client, owner.headers, booking_body([to_london["id"]]))
    await store_client.delete(f"/bookings/{by_staff['id']}", headers=agent.headers)
    by_airline = await book(store_client, owner.headers, booking_body([to_chicago["id"]]))
    airline_paid = await paid(store_client, owner.headers, by_airline["id"])
    cancelled = await store_client.delete(f"/flights/{to_chicago['id']}", headers=agent.headers)
    assert cancelled.json()["affected_bookings"] == 1
    await book(store_client, owner.headers, booking_body([to_paris["id"]], 3))
    clock.advance(timedelta(minutes=16))
    assert await release_expired_holds(store_app.state.sessionmaker, store_app.state.settings) == 1
    owner_now = fresh_headers(store_app, owner)  # the first token's lifetime has passed
    for payment in (passenger_paid, airline_paid):
        await refund_settled(store_app, store_client, owner_now, payment["id"])

    days = {f["service_date"] for f in (to_london, to_paris, to_chicago)}
    period = {"from": min(days), "to": max(days), "type": "cancellations"}
    bearer = headers(store_app, admin)

    async def rows(group_by: str) -> dict[str, dict[str, Any]]:
        response = await store_client.get(
            "/admin/reports", params={**period, "group_by": group_by}, headers=bearer
        )
        assert response.status_code == 200, response.text
        return {row.pop("key"): row for row in response.json()["rows"]}

    def counts(
        flights: int = 0,
        airline: int = 0,
        staff: int = 0,
        passenger: int = 0,
        expired: int = 0,
        refunds: list[dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        return {
            "flights_cancelled": flights,
            "bookings_cancelled_by_airline": airline,
            "bookings_cancelled_by_staff": staff,
            "bookings_cancelled_by_passenger": passenger,
            "holds_expired": expired,
            "refunds_paid": refunds or [],
        }

    usd = "USD"
    assert await rows("flight") == {
        "FD101": counts(staff=1, passenger=1, refunds=[{"amount": 90000, "currency": usd}]),
        "FD202": counts(expired=1),
        "FD301": counts(flights=1, airline=1, refunds=[{"amount": 23000, "currency": usd}]),
    }
    assert await rows("route") == {
        "JFK-LHR": counts(staff=1, passenger=1, refunds=[{"amount": 90000, "currency": usd}]),
        "LHR-CDG": counts(expired=1),
        "JFK-ORD": counts(flights=1, airline=1, refunds=[{"amount": 23000, "currency": usd}]),
    }
    by_day = await rows("day")
    assert by_day[to_paris["service_date"]] == counts(expired=1)
    assert by_day[to_chicago["service_date"]] == counts(
        flights=1, airline=1, refunds=[{"amount": 23000, "currency": usd}]
    )
    weeks = await rows("week")
    assert set(weeks) == {_week(day) for day in days}
    months = await rows("month")
    assert set(months) == {day[:7] for day in days}
    for grouped in (weeks, months):
        assert sum(row["holds_expired"] for row in grouped.values()) == 1
        assert sum(row["bookings_cancelled_by_airline"] for row in grouped.values()) == 1
