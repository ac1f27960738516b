"""Changing, removing and cancelling dated flights."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession
from tests.conftest import TestUser as AppUser
from tests.conftest import assert_error
from tests.flights.factories import (
    create_flight,
    money,
    outbox_events,
    sell_seats,
    status_changes,
)

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def _put(
    client: httpx.AsyncClient, user: AppUser, flight_id: str, body: dict[str, Any]
) -> httpx.Response:
    return await client.put(f"/flights/{flight_id}", json=body, headers=user.headers)


async def test_moving_a_flight_recomputes_service_date_and_records_flight_updated(
    client: httpx.AsyncClient, agent: AppUser, db: AsyncSession
) -> None:
    flight = await create_flight(client, agent.headers)

    response = await _put(
        client,
        agent,
        flight["id"],
        {
            "departure_time": "2026-12-02T09:00:00-05:00",
            "arrival_time": "2026-12-02T21:00:00+00:00",
        },
    )

    assert response.status_code == 200, response.text
    assert response.json()["service_date"] == "2026-12-02"
    assert response.json()["departure_time"] == "2026-12-02T09:00:00-05:00"
    (event,) = await outbox_events(db, "flight.updated", flight["id"])
    assert event.payload["flight_id"] == flight["id"]
    assert event.payload["flight_number"] == "FD101"
    assert event.payload["changed"]["departure_time"] == {
        "from": "2026-12-01T08:30:00-05:00",
        "to": "2026-12-02T09:00:00-05:00",
    }
    assert event.payload["changed"]["service_date"] == {"from": "2026-12-01", "to": "2026-12-02"}


async def test_changing_aircraft_and_adding_seats_is_saved(
    client: httpx.AsyncClient, admin: AppUser
) -> None:
    flight = await create_flight(client, admin.headers)

    response = await _put(
        client,
        admin,
        flight["id"],
        {
            "aircraft": "A359",
            "cabins": {
                "economy": {"seats": 200, "fare": money(40000)},
                "first": {"seats": 8, "fare": money(900000)},
            },
        },
    )

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["aircraft"] == "A359"
    assert body["seats_available"] == {"economy": 200, "first": 8}
    assert body["cabins"]["economy"]["fare"] == money(40000)
    assert (await client.get(f"/flights/{flight['id']}")).json() == body


async def test_an_update_that_changes_nothing_records_no_event(
    client: httpx.AsyncClient, agent: AppUser, db: AsyncSession
) -> None:
    flight = await create_flight(client, agent.headers)

    response = await _put(client, agent, flight["id"], {"aircraft": "B789"})

    assert response.status_code == 200
    assert await outbox_events(db, "flight.updated", flight["id"]) == []


@pytest.mark.parametrize(
    "body",
    [
        {"arrival_time": "2026-12-01T08:00:00-05:00"},
        {"departure_time": "2026-12-01T21:00:00+00:00"},
        {
            "departure_time": "2026-12-01T10:00:00-05:00",
            "arrival_time": "2026-12-01T09:00:00-05:00",
        },
    ],
    ids=["arrival-only", "departure-only", "both"],
)
async def test_times_that_arrive_before_departing_are_422(
    client: httpx.AsyncClient, agent: AppUser, body: dict[str, str]
) -> None:
    flight = await create_flight(client, agent.headers)

    assert_error(await _put(client, agent, flight["id"], body), 422, "validation_error")
    assert (await client.get(f"/flights/{flight['id']}")).json() == flight


async def test_naive_time_in_an_update_is_422(client: httpx.AsyncClient, agent: AppUser) -> None:
    flight = await create_flight(client, agent.headers)

    response = await _put(client, agent, flight["id"], {"departure_time": "2026-12-01T09:00:00"})

    assert_error(response, 422, "validation_error")


async def test_seats_cannot_go_below_seats_sold(
    client: httpx.AsyncClient, agent: AppUser, db: AsyncSession
) -> None:
    flight = await create_flight(client, agent.headers)
    await sell_seats(db, flight["id"], "economy", 40)

    response = await _put(
        client,
        agent,
        flight["id"],
        {
            "cabins": {
                "economy": {"seats": 39, "fare": money(45000)},
                "business": {"seats": 20, "fare": money(250000)},
            }
        },
    )

    error = assert_error(response, 409, "capacity_below_sold")
    assert error["details"] == {"cabin": "economy", "sold": 40, "seats": 39}
    stored = (await client.get(f"/flights/{flight['id']}")).json()
    assert stored["cabins"]["economy"] == {
        "seats": 150,
        "sold": 40,
        "seats_available": 110,
        "fare": money(45000),
    }


async def test_seats_can_go_down_to_exactly_seats_sold(
    client: httpx.AsyncClient, agent: AppUser, db: AsyncSession
) -> None:
    flight = await create_flight(client, agent.headers)
    await sell_seats(db, flight["id"], "economy", 40)

    response = await _put(
        client,
        agent,
        flight["id"],
        {
            "cabins": {
                "economy": {"seats": 40, "fare": money(45000)},
                "business": {"seats": 20, "fare": money(250000)},
            }
        },
    )

    assert response.status_code == 200, response.text
    assert response.json()["seats_available"]["economy"] == 0


async def test_removing_a_cabin_with_seats_sold_is_409(
    client: httpx.AsyncClient, agent: AppUser, db: AsyncSession
) -> None:
    flight = await create_flight(client, agent.headers)
    await sell_seats(db, flight["id"], "business", 2)

    response = await _put(
        client, agent, flight["id"], {"cabins": {"economy": {"seats": 150, "fare": money(45000)}}}
    )

    assert_error(response, 409, "capacity_below_sold")
    assert set((await client.get(f"/flights/{flight['id']}")).json()["cabins"]) == {
        "economy",
        "business",
    }


async def test_removing_a_cabin_with_nothing_sold_is_allowed(
    client: httpx.AsyncClient, agent: AppUser
) -> None:
    flight = await create_flight(client, agent.headers)

    response = await _put(
        client, agent, flight["id"], {"cabins": {"economy": {"seats": 150, "fare": money(45000)}}}
    )

    assert response.status_code == 200
    assert set(response.json()["cabins"]) == {"economy"}


async def test_times_of_a_cancelled_flight_cannot_change(
    client: httpx.AsyncClient, agent: AppUser
) -> None:
    flight = await create_flight(client, agent.headers)
    await client.put(
        f"/flights/{flight['id']}/status", json={"status": "cancelled"}, headers=agent.headers
    )

    response = await _put(
        client, agent, flight["id"], {"departure_time": "2026-12-01T09:00:00-05:00"}
    )

    assert_error(response, 409, "flight_not_editable")


async def test_moving_a_flight_onto_a_taken_service_date_is_409(
    client: httpx.AsyncClient, agent: AppUser
) -> None:
    flight = await create_flight(client, agent.headers)
    await create_flight(
        client,
        agent.headers,
        departure_time="2026-12-02T08:30:00-05:00",
        arrival_time="2026-12-02T20:30:00+00:00",
    )

    response = await _put(
        client,
        agent,
        flight["id"],
        {
            "departure_time": "2026-12-02T07:00:00-05:00",
            "arrival_time": "2026-12-02T19:00:00+00:00",
        },
    )

    assert_error(response, 409, "duplicate_flight")
    assert (await client.get(f"/flights/{flight['id']}")).json() == flight


async def test_update_of_unknown_flight_is_404(client: httpx.AsyncClient, agent: AppUser) -> None:
    assert_error(await _put(client, agent, "nope", {"aircraft": "A320"}), 404, "flight_not_found")


async def test_deleting_a_flight_with_nothing_sold_removes_it(
    client: httpx.AsyncClient, agent: AppUser
) -> None:
    flight = await create_flight(client, agent.headers)

    response = await client.delete(f"/flights/{flight['id']}", headers=agent.headers)

    assert response.status_code == 204
    assert response.content == b""
    assert_error(await client.get(f"/flights/{flight['id']}"), 404, "flight_not_found")
    assert_error(
        await client.delete(f"/flights/{flight['id']}", headers=agent.headers),
        404,
        "flight_not_found",
    )


async def test_deleting_a_flight_with_history_and_nothing_sold_removes_it(
    client: httpx.AsyncClient, agent: AppUser
) -> None:
    flight = await create_flight(client, agent.headers)
    await client.put(
        f"/flights/{flight['id']}/status",
        json={"status": "on_time", "gate": "A1"},
        headers=agent.headers,
    )

    response = await client.delete(f"/flights/{flight['id']}", headers=agent.headers)

    assert response.status_code == 204
    assert_error(await client.get(f"/flights/{flight['id']}/status"), 404, "flight_not_found")


async def test_deleting_a_flight_with_seats_sold_cancels_it(
    client: httpx.AsyncClient, admin: AppUser, db: AsyncSession
) -> None:
    flight = await create_flight(client, admin.headers)
    await sell_seats(db, flight["id"], "economy", 3)

    response = await client.delete(f"/flights/{flight['id']}", headers=admin.headers)

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "cancelled"
    assert body["affected_bookings"] == 0
    assert body["flight"]["status"] == "cancelled"
    assert body["flight"]["cabins"]["economy"]["sold"] == 3
    (change,) = await status_changes(db, flight["id"])
    assert (change.from_status, change.status, change.changed_by) == (
        "scheduled",
        "cancelled",
        admin.id,
    )
    (event,) = await outbox_events(db, "flight.status_changed", flight["id"])
    assert event.payload["status"] == "cancelled"
    assert event.payload["from_status"] == "scheduled"
    assert event.payload["reason"]
    assert (await client.get(f"/flights/{flight['id']}")).json()["status"] == "cancelled"


async def test_deleting_a_cancelled_flight_again_changes_nothing(
    client: httpx.AsyncClient, agent: AppUser, db: AsyncSession
) -> None:
    flight = await create_flight(client, agent.headers)
    await sell_seats(db, flight["id"], "economy", 1)
    await client.delete(f"/flights/{flight['id']}", headers=agent.headers)

    response = await client.delete(f"/flights/{flight['id']}", headers=agent.headers)

    assert response.status_code == 200
    assert response.json()["status"] == "cancelled"
    assert len(await status_changes(db, flight["id"])) == 1


async def test_a_departed_flight_cannot_be_deleted(
    client: httpx.AsyncClient, agent: AppUser
) -> None:
    flight = await create_flight(client, agent.headers)
    for status in ("boarding", "departed"):
        await client.put(
            f"/flights/{flight['id']}/status", json={"status": status}, headers=agent.headers
        )

    response = await client.delete(f"/flights/{flight['id']}", headers=agent.headers)

    assert_error(response, 409, "flight_not_editable")
    assert (await client.get(f"/flights/{flight['id']}")).json()["status"] == "departed"
