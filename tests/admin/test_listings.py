"""`GET /admin/flights`, `/admin/bookings` (both booking stores) and `/admin/users`: every
row with what the airline needs, the filters, keyset pages, and CSV downloads of every row
that parse back to the same rows."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from flightdeck.flights import repository as flights_repository
from flightdeck.flights.drafts import FlightDraft, build_flight
from flightdeck.flights.schemas import CabinSpec
from flightdeck.flights.service import service_date_at_origin
from flightdeck.platform.clock import utcnow
from flightdeck.platform.money import Money
from tests.bookings.factories import book, booking_body, future_flight
from tests.conftest import TestUser, assert_error, create_user
from tests.flights.schedule_factories import economy, schedule_body
from tests.payments.factories import paid, refund_settled

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def _get(
    client: httpx.AsyncClient, path: str, admin: TestUser, **params: str
) -> dict[str, Any]:
    response = await client.get(path, params=params, headers=admin.headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def _all_pages(
    client: httpx.AsyncClient, path: str, admin: TestUser, **params: str
) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        page = await _get(client, path, admin, **params, **({"cursor": cursor} if cursor else {}))
        items += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            return items


async def _csv(
    client: httpx.AsyncClient, path: str, admin: TestUser, **params: str
) -> list[dict[str, str]]:
    response = await client.get(path, params={**params, "format": "csv"}, headers=admin.headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    return list(csv.DictReader(io.StringIO(response.text)))


def _instant(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def _cell(value: Any) -> str:
    return (
        ""
        if value is None
        else "true"
        if value is True
        else "false"
        if value is False
        else str(value)
    )


# --- flights -----------------------------------------------------------------------------


async def test_the_flight_listing_shows_load_per_cabin_status_and_delays(
    client: httpx.AsyncClient, admin: TestUser, agent: TestUser, passenger: TestUser
) -> None:
    full = await future_flight(client, agent.headers, economy_seats=4)
    other = await future_flight(
        client,
        agent.headers,
        flight_number="FD555",
        origin="JFK",
        destination="ORD",
        departs_in=timedelta(days=4),
    )
    await book(client, passenger.headers, booking_body([full["id"]], passengers=3))
    delayed = await client.put(
        f"/flights/{full['id']}/status",
        json={"status": "delayed", "delay_minutes": 25},
        headers=agent.headers,
    )
    assert delayed.status_code == 200, delayed.text

    rows = (await _get(client, "/admin/flights", admin))["items"]
    assert [row["id"] for row in rows] == [full["id"], other["id"]]
    row = rows[0]
    assert (row["status"], row["delay_minutes"], row["departure_delay_minutes"]) == (
        "delayed",
        25,
        None,
    )
    assert (row["capacity"], row["sold"], row["load_factor"]) == (24, 3, 0.125)
    assert {c["cabin"]: (c["capacity"], c["sold"], c["load_factor"]) for c in row["cabins"]} == {
        "economy": (4, 3, 0.75),
        "business": (20, 0, 0.0),
    }
    assert row["distance_km"] == 5540  # JFK-LHR great circle


async def test_the_flight_listing_filters(
    client: httpx.AsyncClient, admin: TestUser, agent: TestUser
) -> None:
    jfk_lhr = await future_flight(client, agent.headers)
    later = await future_flight(
        client, agent.headers, flight_number="FD102", departs_in=timedelta(days=9)
    )
    jfk_ord = await future_flight(client, agent.headers, flight_number="FD301", destination="ORD")
    start = (utcnow() + timedelta(days=20)).date()
    schedule = await client.post(
        "/schedules",
        json=schedule_body(
            valid_from=start.isoformat(),
            valid_to=(start + timedelta(days=1)).isoformat(),
            cabins=economy(),
        ),
        headers=agent.headers,
    )
    assert schedule.status_code == 201, schedule.text
    scheduled_ids = [f["id"] for f in schedule.json()["flights"]]
    await client.delete(f"/flights/{jfk_ord['id']}", headers=agent.headers)  # removed

    async def ids(**params: str) -> list[str]:
        return [row["id"] for row in await _all_pages(client, "/admin/flights", admin, **params)]

    assert await ids(route="JFK-LHR", to=jfk_lhr["service_date"]) == [jfk_lhr["id"]]
    assert await ids(origin="jfk", destination="LHR", flight_number="fd102") == [later["id"]]
    assert await ids(**{"from": later["service_date"]}) == [later["id"], *scheduled_ids]
    assert await ids(schedule_id=schedule.json()["schedule"]["id"]) == scheduled_ids
    assert await ids(status="cancelled") == []
    assert await ids(limit="1") == [jfk_lhr["id"], later["id"], *scheduled_ids]


async def test_every_flight_is_in_the_csv_not_one_page(
    app: FastAPI, client: httpx.AsyncClient, admin: TestUser
) -> None:
    first = datetime.now(UTC).replace(second=0, microsecond=0) + timedelta(days=2)
    cabins = {
        "economy": CabinSpec(seats=180, fare=Money(amount=9900, currency="USD")),
        "first": CabinSpec(seats=8, fare=Money(amount=99000, currency="USD")),
    }
    flights = [
        build_flight(
            FlightDraft(
                flight_number=f"FD{n % 9000 + 1000}",
                origin="JFK",
                destination="BOS",
                departure_at=first + timedelta(hours=n),
                arrival_at=first + timedelta(hours=n, minutes=75),
                service_date=service_date_at_origin(first + timedelta(hours=n), "JFK"),
                aircraft=None,
                cabins=cabins,
            )
        )
        for n in range(2_150)
    ]
    async with app.state.sessionmaker() as session, session.begin():
        await flights_repository.add_flights(session, flights)

    page = await _get(client, "/admin/flights", admin)
    assert len(page["items"]) == 50 and page["next_cursor"]
    rows = await _csv(client, "/admin/flights", admin)
    assert len(rows) == 2_150
    assert [row["id"] for row in rows] == [f.id for f in flights]
    everything = await _all_pages(client, "/admin/flights", admin, limit="200")
    expected = []
    for item in everything:
        flat = {k: _cell(v) for k, v in item.items() if k != "cabins"}
        for cabin in ("economy", "premium_economy", "business", "first"):
            found = next((c for c in item["cabins"] if c["cabin"] == cabin), None)
            for field in ("capacity", "sold", "load_factor"):
                flat[f"{cabin}_{field}"] = _cell(found[field]) if found else ""
        expected.append(flat)
    assert rows == expected


# --- bookings (both stores) --------------------------------------------------------------


async def test_the_booking_listing_has_owner_segments_and_money_in_either_store(
    store_app: FastAPI,
    store_client: httpx.AsyncClient,
    admin: TestUser,
    agent: TestUser,
) -> None:
    alice = await create_user(store_app, "passenger", email="alice.admin-test@example.com")
    bob = await create_user(store_app, "passenger")
    flight = await future_flight(store_client, agent.headers)
    second = await future_flight(
        store_client, agent.headers, flight_number="FD202", departs_in=timedelta(days=5)
    )
    kept = await book(store_client, alice.headers, booking_body([flight["id"]], passengers=2))
    await paid(store_client, alice.headers, kept["id"])
    refunded = await book(store_client, bob.headers, booking_body([second["id"]]))
    payment = await paid(store_client, bob.headers, refunded["id"])
    cancel = await store_client.delete(f"/bookings/{refunded['id']}", headers=agent.headers)
    assert cancel.status_code == 200, cancel.text
    await refund_settled(store_app, store_client, bob.headers, payment["id"])
    pending = await book(store_client, alice.headers, booking_body([second["id"]]))

    rows = (await _get(store_client, "/admin/bookings", admin))["items"]
    assert [row["id"] for row in rows] == [pending["id"], refunded["id"], kept["id"]]
    by_id = {row["id"]: row for row in rows}
    first_row = by_id[kept["id"]]
    assert (first_row["pnr"], first_row["owner_email"], first_row["status"]) == (
        kept["pnr"],
        alice.email,
        "confirmed",
    )
    assert first_row["passengers"] == 2
    assert (
        first_row["total_price"] == first_row["amount_paid"] == {"amount": 90000, "currency": "USD"}
    )
    assert first_row["amount_refunded"] == {"amount": 0, "currency": "USD"}
    [segment] = first_row["segments"]
    assert (segment["flight_id"], segment["flight_number"], segment["service_date"]) == (
        flight["id"],
        "FD101",
        flight["service_date"],
    )
    assert by_id[refunded["id"]]["amount_refunded"] == {"amount": 45000, "currency": "USD"}
    assert by_id[refunded["id"]]["cancellation_reason"] == "cancelled_by_staff"
    assert by_id[pending["id"]]["amount_paid"]["amount"] == 0
    assert "passport" not in str(rows) and "Grace" not in str(rows)  # no passenger's data

    async def ids(**params: str) -> list[str]:
        found = await _all_pages(store_client, "/admin/bookings", admin, **params)
        return [row["id"] for row in found]

    assert await ids(flight_id=second["id"]) == [pending["id"], refunded["id"]]
    assert await ids(status="cancelled") == [refunded["id"]]
    assert await ids(pnr=kept["pnr"].lower()) == [kept["id"]]
    assert await ids(email="ALICE.admin-test@example.com") == [pending["id"], kept["id"]]
    assert await ids(email="nobody@example.com") == []
    today = utcnow().date()
    assert await ids(created_from=today.isoformat(), created_to=today.isoformat(), limit="1") == [
        pending["id"],
        refunded["id"],
        kept["id"],
    ]
    assert await ids(created_to=(today - timedelta(days=1)).isoformat()) == []

    parsed = await _csv(store_client, "/admin/bookings", admin)
    assert [row["id"] for row in parsed] == [row["id"] for row in rows]
    for line, row in zip(parsed, rows, strict=True):
        assert line["owner_email"] == row["owner_email"]
        assert line["segments"] == "|".join(
            f"{s['flight_number']} {s['origin']}-{s['destination']} {s['service_date']}"
            for s in row["segments"]
        )
        assert int(line["amount_paid_amount"]) == row["amount_paid"]["amount"]
        assert int(line["amount_refunded_amount"]) == row["amount_refunded"]["amount"]
        assert (line["total_price_currency"], line["status"]) == ("USD", row["status"])
        for instant in ("created_at", "cancelled_at"):
            written, shown = line[instant], row[instant]
            assert _instant(written) == _instant(shown)


# --- users -------------------------------------------------------------------------------


async def test_the_user_listing_filters_by_role_email_and_active(
    app: FastAPI, client: httpx.AsyncClient, admin: TestUser
) -> None:
    agents = [await create_user(app, "agent") for _ in range(3)]
    gone = await create_user(app, "passenger")
    await client.patch(f"/admin/users/{gone.id}", json={"active": False}, headers=admin.headers)

    async def ids(**params: str) -> list[str]:
        return [row["id"] for row in await _all_pages(client, "/admin/users", admin, **params)]

    assert await ids(role="agent", limit="2") == [a.id for a in reversed(agents)]
    assert await ids(active="false") == [gone.id]
    assert await ids(email=agents[0].email.upper()) == [agents[0].id]
    everyone = await _all_pages(client, "/admin/users", admin)
    assert {row["id"] for row in everyone} == {admin.id, gone.id, *(a.id for a in agents)}
    assert set(everyone[0]) == {"id", "email", "full_name", "role", "active", "created_at"}
    rows = await _csv(client, "/admin/users", admin)
    assert rows == [{k: _cell(v) for k, v in row.items()} for row in everyone]


# --- who may, and bad filters ------------------------------------------------------------

ADMIN_GETS = (
    "/admin/flights",
    "/admin/bookings",
    "/admin/reports?type=revenue",
    "/admin/users",
    "/admin/audit",
)


async def test_only_admins_use_the_admin_api(
    client: httpx.AsyncClient, agent: TestUser, passenger: TestUser
) -> None:
    for path in ADMIN_GETS:
        assert_error(await client.get(path), 401)
        for user in (agent, passenger):
            assert_error(await client.get(path, headers=user.headers), 403, "forbidden")
    change = await client.patch(
        f"/admin/users/{passenger.id}", json={"role": "admin"}, headers=agent.headers
    )
    assert_error(change, 403, "forbidden")


async def test_bad_filters_are_422_in_the_one_error_shape(
    client: httpx.AsyncClient, admin: TestUser
) -> None:
    bad = {
        "/admin/flights": [
            {"from": "2026-02-30"},
            {"from": "2026-03-02", "to": "2026-03-01"},
            {"from": "0001-01-01"},
            {"to": "9999-12-31"},
            {"route": "JFK"},
            {"route": "JFK-LHR", "origin": "BOS"},
            {"status": "late"},
            {"origin": "ZZZ"},
            {"flight_number": "not a flight"},
            {"cursor": "x"},
            {"limit": "1000"},
            {"format": "pdf"},
        ],
        "/admin/bookings": [
            {"status": "lost"},
            {"created_from": "yesterday"},
            {"pnr": "TOOLONGPNR"},
            {"created_from": "2026-03-02", "created_to": "2026-03-01"},
            {"email": "x"},
        ],
        "/admin/users": [{"role": "pilot"}, {"active": "maybe"}],
        "/admin/reports": [
            {},
            {"type": "profit"},
            {"type": "revenue", "group_by": "hour"},
            {"type": "revenue", "from": "2025-01-01", "to": "2026-06-01"},
            {"type": "revenue", "currency": "dollars"},
            {"type": "on_time", "group_by": "cabin"},
        ],
    }
    for path, cases in bad.items():
        for params in cases:
            response = await client.get(path, params=params, headers=admin.headers)
            assert_error(response, 422)
