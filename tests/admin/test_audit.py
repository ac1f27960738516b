"""The audit log: who changed what, when, from which address, with before/after of the
changed fields (personal data masked), written in the transaction of the change, readable
with filters, paginated and as CSV, and never changed through the API."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from flightdeck.platform.clock import utcnow
from tests.bookings.factories import book, booking_body, future_flight
from tests.conftest import TestUser, assert_error
from tests.flights.factories import sell_seats
from tests.flights.schedule_factories import economy, schedule_body

pytestmark = pytest.mark.asyncio(loop_scope="session")

CLIENT_IP = "203.0.113.10"  # the test client's address (tests/conftest.py)
SAMPLE_SSIM = Path(__file__).parents[1] / "flights" / "data" / "sample.ssim"


async def audit(client: httpx.AsyncClient, admin: TestUser, **filters: str) -> list[dict[str, Any]]:
    response = await client.get("/admin/audit", params=filters, headers=admin.headers)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def test_a_flight_edit_records_who_when_where_and_the_changed_fields(
    client: httpx.AsyncClient, admin: TestUser, agent: TestUser
) -> None:
    flight = await future_flight(client, agent.headers)
    before_change = utcnow()
    response = await client.put(
        f"/flights/{flight['id']}",
        json={
            "aircraft": "A359",
            "cabins": {
                "economy": {"seats": 160, "fare": {"amount": 45000, "currency": "USD"}},
                "business": {"seats": 20, "fare": {"amount": 250000, "currency": "USD"}},
            },
        },
        headers=agent.headers,
    )
    assert response.status_code == 200, response.text
    [entry] = await audit(client, admin, entity="flight", entity_id=flight["id"], action="update")
    assert (entry["actor_id"], entry["actor_role"], entry["client_ip"], entry["source"]) == (
        agent.id,
        "agent",
        CLIENT_IP,
        "api",
    )
    assert entry["before"] == {
        "aircraft": "B789",
        "cabins": {"economy": {"seats": 150, "fare": {"amount": 45000, "currency": "USD"}}},
    }
    assert entry["after"] == {
        "aircraft": "A359",
        "cabins": {"economy": {"seats": 160, "fare": {"amount": 45000, "currency": "USD"}}},
    }
    assert datetime.fromisoformat(entry["occurred_at"]) >= before_change


async def test_a_change_that_is_refused_leaves_no_audit_entry(
    client: httpx.AsyncClient, admin: TestUser, agent: TestUser, db: Any
) -> None:
    flight = await future_flight(client, agent.headers)
    await sell_seats(db, flight["id"], "economy", 100)
    response = await client.put(
        f"/flights/{flight['id']}",
        json={
            "aircraft": "A359",
            "cabins": {"economy": {"seats": 50, "fare": {"amount": 1, "currency": "USD"}}},
        },
        headers=agent.headers,
    )
    assert_error(response, 409, "capacity_below_sold")
    assert await audit(client, admin, entity="flight", action="update") == []


async def test_staff_changes_of_every_kind_are_audited(
    client: httpx.AsyncClient, admin: TestUser, agent: TestUser, passenger: TestUser
) -> None:
    removable = await future_flight(client, agent.headers, flight_number="FD301")
    assert (
        await client.delete(f"/flights/{removable['id']}", headers=agent.headers)
    ).status_code == 204
    flight = await future_flight(client, agent.headers)
    delayed = await client.put(
        f"/flights/{flight['id']}/status",
        json={"status": "delayed", "delay_minutes": 40, "gate": "B12"},
        headers=agent.headers,
    )
    assert delayed.status_code == 200, delayed.text
    booking = await book(client, passenger.headers, booking_body([flight["id"]]))
    cancelled = await client.delete(f"/bookings/{booking['id']}", headers=agent.headers)
    assert cancelled.status_code == 200, cancelled.text
    sent = await client.post(
        "/notifications",
        json={"flight_id": flight["id"], "title": "Gate change", "message": "Now B12"},
        headers=agent.headers,
    )
    assert sent.status_code == 202, sent.text
    start = (utcnow() + timedelta(days=10)).date()
    body = schedule_body(
        valid_from=start.isoformat(),
        valid_to=(start + timedelta(days=6)).isoformat(),
        cabins=economy(),
    )
    created = await client.post("/schedules", json=body, headers=agent.headers)
    assert created.status_code == 201, created.text
    schedule_id = created.json()["schedule"]["id"]
    changed = await client.put(
        f"/schedules/{schedule_id}", json={**body, "aircraft": "789"}, headers=agent.headers
    )
    assert changed.status_code == 200, changed.text
    assert (
        await client.delete(f"/schedules/{schedule_id}", headers=agent.headers)
    ).status_code == 200
    imported = await client.post(
        "/schedules/import",
        files={"file": ("s.ssim", SAMPLE_SSIM.read_bytes(), "application/octet-stream")},
        headers=agent.headers,
    )
    assert imported.status_code in (200, 201), imported.text
    promoted = await client.patch(
        f"/admin/users/{passenger.id}", json={"role": "agent"}, headers=admin.headers
    )
    assert promoted.status_code == 200, promoted.text

    entries = await audit(client, admin, limit="200")
    done = {(e["entity"], e["action"]) for e in entries}
    assert done >= {
        ("flight", "create"),
        ("flight", "delete"),
        ("flight", "status"),
        ("booking", "cancel"),
        ("notification", "send"),
        ("schedule", "create"),
        ("schedule", "update"),
        ("schedule", "delete"),
        ("schedule_import", "import"),
        ("user", "update"),
    }
    by_kind = {(e["entity"], e["action"], e["entity_id"]): e for e in entries}
    status = by_kind["flight", "status", flight["id"]]
    assert status["before"]["status"] == "scheduled"
    assert (status["after"]["status"], status["after"]["delay_minutes"]) == ("delayed", 40)
    assert status["after"]["gate"] == "B12"
    cancel = by_kind["booking", "cancel", booking["id"]]
    assert (cancel["before"]["status"], cancel["after"]["status"]) == (
        "pending_payment",
        "cancelled",
    )
    schedule_update = by_kind["schedule", "update", schedule_id]
    assert (schedule_update["before"]["aircraft"], schedule_update["after"]["aircraft"]) == (
        "77W",
        "789",
    )
    user = by_kind["user", "update", passenger.id]
    assert (user["before"]["role"], user["after"]["role"]) == ("passenger", "agent")
    assert {e["actor_id"] for e in entries if e["entity"] != "user"} == {agent.id}
    assert user["actor_id"] == admin.id


async def test_a_passengers_own_cancellation_is_not_a_staff_change(
    client: httpx.AsyncClient, admin: TestUser, agent: TestUser, passenger: TestUser
) -> None:
    flight = await future_flight(client, agent.headers)
    booking = await book(client, passenger.headers, booking_body([flight["id"]]))
    assert (
        await client.delete(f"/bookings/{booking['id']}", headers=passenger.headers)
    ).status_code == 200
    assert await audit(client, admin, entity="booking") == []


async def test_personal_data_in_the_log_is_masked(
    client: httpx.AsyncClient, admin: TestUser, passenger: TestUser
) -> None:
    response = await client.patch(
        f"/admin/users/{passenger.id}", json={"active": False}, headers=admin.headers
    )
    assert response.status_code == 200, response.text
    [entry] = await audit(client, admin, entity="user", entity_id=passenger.id)
    local, _, domain = passenger.email.partition("@")
    masked = f"{local[0]}***@{domain}"
    assert entry["before"] == {"email": masked, "active": True}
    assert entry["after"] == {"email": masked, "active": False}
    assert passenger.email not in json.dumps(entry)


async def test_nothing_in_the_api_changes_or_removes_the_log(
    client: httpx.AsyncClient, admin: TestUser
) -> None:
    paths = (await client.get("/openapi.json")).json()["paths"]
    audit_paths = {path: set(ops) for path, ops in paths.items() if path.startswith("/admin/audit")}
    assert audit_paths == {"/admin/audit": {"get"}}
    for method in ("DELETE", "PUT", "PATCH", "POST"):
        response = await client.request(method, "/admin/audit", headers=admin.headers)
        assert_error(response, 405)


async def test_the_log_filters_by_actor_and_time_pages_and_downloads_as_csv(
    client: httpx.AsyncClient, admin: TestUser, agent: TestUser
) -> None:
    first = await future_flight(client, agent.headers, flight_number="FD401")
    middle = utcnow()
    await future_flight(client, agent.headers, flight_number="FD402")
    await future_flight(client, agent.headers, flight_number="FD403")
    await client.patch(f"/admin/users/{agent.id}", json={"role": "agent"}, headers=admin.headers)

    mine = await audit(client, admin, actor=agent.id)
    assert [e["after"]["flight_number"] for e in mine] == ["FD403", "FD402", "FD401"]
    assert await audit(client, admin, actor=admin.id) == []  # the no-op role change: no entry
    later = await audit(client, admin, **{"from": middle.isoformat()})
    assert [e["after"]["flight_number"] for e in later] == ["FD403", "FD402"]
    earlier = await audit(client, admin, to=middle.isoformat())
    assert [e["entity_id"] for e in earlier] == [first["id"]]

    seen, cursor = [], None
    while True:
        params = {"limit": "1", "actor": agent.id} | ({"cursor": cursor} if cursor else {})
        page = (await client.get("/admin/audit", params=params, headers=admin.headers)).json()
        seen += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == mine

    response = await client.get(
        "/admin/audit", params={"actor": agent.id, "format": "csv"}, headers=admin.headers
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [row["id"] for row in rows] == [e["id"] for e in mine]
    assert [json.loads(row["after"]) for row in rows] == [e["after"] for e in mine]
    assert {row["actor_role"] for row in rows} == {"agent"}


async def test_the_log_names_each_actor_by_e_mail_and_filters_by_it(
    client: httpx.AsyncClient, admin: TestUser, agent: TestUser, passenger: TestUser
) -> None:
    await future_flight(client, agent.headers, flight_number="FD411")
    await client.patch(
        f"/admin/users/{passenger.id}", json={"role": "agent"}, headers=admin.headers
    )

    by_agent = await audit(client, admin, actor_email=agent.email.upper())
    assert [(e["entity"], e["actor_id"], e["actor_email"]) for e in by_agent] == [
        ("flight", agent.id, agent.email)
    ]
    [by_admin] = await audit(client, admin, actor_email=f" {admin.email} ")
    assert (by_admin["entity_id"], by_admin["actor_email"]) == (passenger.id, admin.email)
    assert await audit(client, admin, actor_email="nobody@example.com") == []
    assert await audit(client, admin, actor_email=agent.email, actor=admin.id) == []

    response = await client.get(
        "/admin/audit", params={"actor_email": agent.email, "format": "csv"}, headers=admin.headers
    )
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [(row["actor_id"], row["actor_email"]) for row in rows] == [(agent.id, agent.email)]


async def test_bad_audit_filters_are_422(client: httpx.AsyncClient, admin: TestUser) -> None:
    for params in (
        {"from": "yesterday"},
        {"from": "2026-03-02T00:00:00"},  # no offset
        {"from": "2026-03-02T00:00:00Z", "to": "2026-03-01T00:00:00Z"},
        {"from": "0001-01-01T00:00:00Z"},
        {"action": "DROP TABLE"},
        {"cursor": "not-a-cursor"},
        {"limit": "0"},
        {"format": "xml"},
    ):
        response = await client.get("/admin/audit", params=params, headers=admin.headers)
        assert_error(response, 422)
