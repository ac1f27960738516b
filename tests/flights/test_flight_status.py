"""Live flight status: transitions, estimates and actuals, gate changes, history, events."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession
from tests.conftest import TestUser as AppUser
from tests.conftest import assert_error
from tests.flights.factories import create_flight, outbox_events, status_changes

from flightdeck.platform.clock import clock

pytestmark = pytest.mark.asyncio(loop_scope="session")

SCHEDULED_DEPARTURE = datetime.fromisoformat("2026-12-01T08:30:00-05:00")


async def _set_status(
    client: httpx.AsyncClient, user: AppUser, flight_id: str, **body: Any
) -> httpx.Response:
    return await client.put(f"/flights/{flight_id}/status", json=body, headers=user.headers)


async def _move_to(
    client: httpx.AsyncClient, user: AppUser, flight_id: str, *statuses: str
) -> None:
    extra: dict[str, dict[str, Any]] = {
        "delayed": {"delay_minutes": 30},
        "diverted": {"diverted_to": "BOS"},
    }
    for status in statuses:
        response = await _set_status(
            client, user, flight_id, status=status, **extra.get(status, {})
        )
        assert response.status_code == 200, response.text


async def test_new_flight_status_is_scheduled_in_local_offsets(
    client: httpx.AsyncClient, agent: AppUser
) -> None:
    flight = await create_flight(client, agent.headers)

    response = await client.get(f"/flights/{flight['id']}/status")

    assert response.status_code == 200
    body = response.json()
    assert body["flight_id"] == flight["id"]
    assert body["flight_number"] == "FD101"
    assert (body["origin"], body["destination"]) == ("JFK", "LHR")
    assert body["status"] == "scheduled"
    assert body["scheduled_departure"] == "2026-12-01T08:30:00-05:00"
    assert datetime.fromisoformat(body["scheduled_arrival"]).utcoffset() == timedelta(0)
    assert body["estimated_departure"] is None
    assert body["actual_departure"] is None
    assert body["delay_minutes"] == 0
    assert body["gate"] is None
    assert datetime.fromisoformat(body["updated_at"]).utcoffset() == timedelta(hours=-5)


async def test_delay_with_an_estimate_computes_delay_minutes_and_records_an_event(
    client: httpx.AsyncClient, agent: AppUser, db: AsyncSession
) -> None:
    flight = await create_flight(client, agent.headers)

    response = await _set_status(
        client,
        agent,
        flight["id"],
        status="delayed",
        estimated_departure="2026-12-01T14:15:00+00:00",
        remark="Late inbound aircraft",
    )

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "delayed"
    assert body["delay_minutes"] == 45
    assert body["estimated_departure"] == "2026-12-01T09:15:00-05:00"
    assert body["estimated_arrival"].startswith("2026-12-01T21:15:00")  # block time kept
    assert body["remark"] == "Late inbound aircraft"
    (event,) = await outbox_events(db, "flight.status_changed", flight["id"])
    assert event.aggregate_type == "flight"
    assert event.actor_id == agent.id
    assert event.payload["flight_number"] == "FD101"
    assert (event.payload["from_status"], event.payload["status"]) == ("scheduled", "delayed")
    assert event.payload["delay_minutes"] == 45
    assert event.payload["estimated_departure"] == "2026-12-01T09:15:00-05:00"
    assert event.payload["changed"]["status"] == {"from": "scheduled", "to": "delayed"}
    assert event.payload["changed"]["delay_minutes"] == {"from": 0, "to": 45}


async def test_delay_in_minutes_derives_the_estimate(
    client: httpx.AsyncClient, agent: AppUser
) -> None:
    flight = await create_flight(client, agent.headers)

    response = await _set_status(client, agent, flight["id"], status="delayed", delay_minutes=90)

    assert response.status_code == 200, response.text
    assert response.json()["estimated_departure"] == "2026-12-01T10:00:00-05:00"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "estimated_departure"),
        ({"estimated_departure": "2026-12-01T08:00:00-05:00"}, "estimated_departure"),
        ({"delay_minutes": 0}, "estimated_departure"),
        (
            {"estimated_departure": "2026-12-01T09:00:00-05:00", "delay_minutes": 10},
            "delay_minutes",
        ),
    ],
    ids=["neither", "estimate-before-schedule", "zero-delay", "estimate-and-delay-disagree"],
)
async def test_delay_without_a_usable_estimate_is_422(
    client: httpx.AsyncClient, agent: AppUser, body: dict[str, Any], field: str
) -> None:
    flight = await create_flight(client, agent.headers)

    response = await _set_status(client, agent, flight["id"], status="delayed", **body)

    error = assert_error(response, 422, "validation_error")
    assert error["details"] == {"field": field}
    assert (await client.get(f"/flights/{flight['id']}/status")).json()["status"] == "scheduled"


async def test_a_delayed_flight_takes_a_new_estimate_and_keeps_history_newest_first(
    client: httpx.AsyncClient, agent: AppUser
) -> None:
    flight = await create_flight(client, agent.headers)
    await _set_status(client, agent, flight["id"], status="delayed", delay_minutes=30)
    clock.advance(timedelta(seconds=1))

    response = await _set_status(client, agent, flight["id"], status="delayed", delay_minutes=60)
    clock.advance(timedelta(seconds=1))
    await _set_status(client, agent, flight["id"], status="delayed", gate="c3")

    assert response.json()["delay_minutes"] == 60
    history = (
        await client.get(f"/flights/{flight['id']}/status/history", headers=agent.headers)
    ).json()
    assert [(h["status"], h["delay_minutes"], h["gate"]) for h in history] == [
        ("delayed", 60, "C3"),
        ("delayed", 60, None),
        ("delayed", 30, None),
    ]
    assert history[-1]["from_status"] == "scheduled"
    assert history[0]["changed_by"] == agent.id
    assert history[0]["source"] == "api"


async def test_back_on_time_clears_the_delay(client: httpx.AsyncClient, agent: AppUser) -> None:
    flight = await create_flight(client, agent.headers)
    await _move_to(client, agent, flight["id"], "delayed")

    response = await _set_status(client, agent, flight["id"], status="on_time")

    assert response.json()["delay_minutes"] == 0
    assert response.json()["estimated_departure"] is None


async def test_a_gate_change_on_the_same_status_is_allowed_and_named_in_the_event(
    client: httpx.AsyncClient, agent: AppUser, db: AsyncSession
) -> None:
    flight = await create_flight(client, agent.headers)
    await _set_status(client, agent, flight["id"], status="on_time", gate="B1", terminal="4")

    response = await _set_status(client, agent, flight["id"], status="on_time", gate="b7")

    assert response.status_code == 200, response.text
    assert (response.json()["gate"], response.json()["terminal"]) == ("B7", "4")
    events = await outbox_events(db, "flight.status_changed", flight["id"])
    assert len(events) == 2
    assert events[1].payload["changed"] == {"gate": {"from": "B1", "to": "B7"}}
    assert events[1].payload["gate"] == "B7"


@pytest.mark.parametrize("gate", ["B 7", "GATE-12345", "", "B7!"])
async def test_a_malformed_gate_is_422(
    client: httpx.AsyncClient, agent: AppUser, gate: str
) -> None:
    flight = await create_flight(client, agent.headers)

    response = await _set_status(client, agent, flight["id"], status="on_time", gate=gate)

    assert_error(response, 422, "validation_error")


async def test_departure_and_arrival_default_to_now(
    client: httpx.AsyncClient, agent: AppUser
) -> None:
    scheduled = clock.now() - timedelta(minutes=20)
    flight = await create_flight(
        client,
        agent.headers,
        departure_time=scheduled.isoformat(),
        arrival_time=(scheduled + timedelta(hours=7)).isoformat(),
    )
    await _move_to(client, agent, flight["id"], "boarding")

    departed = await _set_status(client, agent, flight["id"], status="departed")
    clock.advance(timedelta(minutes=5))
    arrived = await _set_status(client, agent, flight["id"], status="arrived")

    assert departed.status_code == 200, departed.text
    actual_departure = datetime.fromisoformat(departed.json()["actual_departure"])
    assert abs(actual_departure - (clock.now() - timedelta(minutes=5))) < timedelta(seconds=10)
    assert actual_departure.utcoffset() in (timedelta(hours=-5), timedelta(hours=-4))  # New York
    assert departed.json()["delay_minutes"] == 20
    actual_arrival = datetime.fromisoformat(arrived.json()["actual_arrival"])
    assert abs(actual_arrival - clock.now()) < timedelta(seconds=10)
    assert arrived.json()["status"] == "arrived"


async def test_given_actual_times_are_kept(client: httpx.AsyncClient, agent: AppUser) -> None:
    flight = await create_flight(client, agent.headers)
    await _move_to(client, agent, flight["id"], "boarding")

    await _set_status(
        client, agent, flight["id"], status="departed", actual_departure="2026-12-01T13:40:00Z"
    )
    response = await _set_status(
        client, agent, flight["id"], status="arrived", actual_arrival="2026-12-01T20:25:00Z"
    )

    assert response.status_code == 200, response.text
    assert response.json()["actual_departure"] == "2026-12-01T08:40:00-05:00"
    assert response.json()["delay_minutes"] == 10
    assert response.json()["actual_arrival"].startswith("2026-12-01T20:25:00")


async def test_arrival_before_departure_is_422(client: httpx.AsyncClient, agent: AppUser) -> None:
    flight = await create_flight(client, agent.headers)
    await _move_to(client, agent, flight["id"], "boarding")
    await _set_status(
        client, agent, flight["id"], status="departed", actual_departure="2026-12-01T13:40:00Z"
    )

    response = await _set_status(
        client, agent, flight["id"], status="arrived", actual_arrival="2026-12-01T13:00:00Z"
    )

    assert_error(response, 422, "validation_error")


async def test_arrived_flight_cannot_go_back_to_boarding(
    client: httpx.AsyncClient, agent: AppUser
) -> None:
    flight = await create_flight(client, agent.headers)
    await _move_to(client, agent, flight["id"], "boarding", "departed", "arrived")

    response = await _set_status(client, agent, flight["id"], status="boarding")

    error = assert_error(response, 409, "invalid_status_transition")
    assert error["details"] == {"from": "arrived", "to": "boarding"}


@pytest.mark.parametrize(
    "status",
    ["scheduled", "on_time", "delayed", "boarding", "departed", "arrived", "cancelled", "diverted"],
)
async def test_a_cancelled_flight_accepts_no_status(
    client: httpx.AsyncClient, agent: AppUser, db: AsyncSession, status: str
) -> None:
    flight = await create_flight(client, agent.headers)
    await _move_to(client, agent, flight["id"], "cancelled")

    body: dict[str, Any] = {"status": status}
    response = await client.put(f"/flights/{flight['id']}/status", json=body, headers=agent.headers)

    assert_error(response, 409, "invalid_status_transition")
    assert len(await status_changes(db, flight["id"])) == 1


async def test_boarding_straight_from_scheduled_to_departed_is_409(
    client: httpx.AsyncClient, agent: AppUser
) -> None:
    flight = await create_flight(client, agent.headers)

    response = await _set_status(client, agent, flight["id"], status="departed")

    error = assert_error(response, 409, "invalid_status_transition")
    assert error["details"] == {"from": "scheduled", "to": "departed"}


async def test_diverted_needs_a_known_diversion_airport(
    client: httpx.AsyncClient, agent: AppUser
) -> None:
    flight = await create_flight(client, agent.headers)
    await _move_to(client, agent, flight["id"], "boarding", "departed")

    missing = await _set_status(client, agent, flight["id"], status="diverted")
    unknown = await _set_status(client, agent, flight["id"], status="diverted", diverted_to="QQQ")
    destination = await _set_status(
        client, agent, flight["id"], status="diverted", diverted_to="LHR"
    )

    assert assert_error(missing, 422, "validation_error")["details"] == {"field": "diverted_to"}
    assert assert_error(unknown, 422, "unknown_airport")["details"] == {
        "field": "diverted_to",
        "airport": "QQQ",
    }
    assert_error(destination, 422, "validation_error")


async def test_a_diverted_flight_arrives_in_the_diversion_airports_offset(
    client: httpx.AsyncClient, agent: AppUser
) -> None:
    flight = await create_flight(client, agent.headers)
    await _move_to(client, agent, flight["id"], "boarding", "departed")

    diverted = await _set_status(client, agent, flight["id"], status="diverted", diverted_to="bos")
    arrived = await _set_status(
        client, agent, flight["id"], status="arrived", actual_arrival="2026-12-01T16:00:00Z"
    )

    assert diverted.status_code == 200, diverted.text
    assert diverted.json()["diverted_to"] == "BOS"
    assert arrived.json()["actual_arrival"] == "2026-12-01T11:00:00-05:00"  # Boston


@pytest.mark.parametrize(
    ("status", "body"),
    [
        ("on_time", {"diverted_to": "BOS"}),
        ("boarding", {"actual_departure": "2026-12-01T13:30:00Z"}),
        ("cancelled", {"delay_minutes": 10}),
    ],
)
async def test_a_field_the_status_does_not_take_is_422(
    client: httpx.AsyncClient, agent: AppUser, status: str, body: dict[str, Any]
) -> None:
    flight = await create_flight(client, agent.headers)

    response = await _set_status(client, agent, flight["id"], status=status, **body)

    error = assert_error(response, 422, "validation_error")
    assert error["details"] == {"field": next(iter(body))}


@pytest.mark.parametrize(
    "body",
    [
        {"status": "lost"},
        {"status": "delayed", "delay_minutes": -5},
        {"status": "delayed", "estimated_departure": "2026-12-01T09:00:00"},
        {},
    ],
    ids=["unknown-status", "negative-delay", "naive-estimate", "no-status"],
)
async def test_malformed_status_update_is_422(
    client: httpx.AsyncClient, agent: AppUser, body: dict[str, Any]
) -> None:
    flight = await create_flight(client, agent.headers)

    response = await client.put(f"/flights/{flight['id']}/status", json=body, headers=agent.headers)

    assert_error(response, 422, "validation_error")


async def test_status_of_unknown_flight_is_404(client: httpx.AsyncClient, agent: AppUser) -> None:
    assert_error(await client.get("/flights/nope/status"), 404, "flight_not_found")
    assert_error(
        await _set_status(client, agent, "nope", status="on_time"), 404, "flight_not_found"
    )
    assert_error(
        await client.get("/flights/nope/status/history", headers=agent.headers),
        404,
        "flight_not_found",
    )
