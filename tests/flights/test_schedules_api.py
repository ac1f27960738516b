"""/schedules: create with generated flights, validation, roles, listing, change and delete."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from tests.conftest import TestUser as AppUser
from tests.conftest import assert_error
from tests.flights.schedule_factories import (
    economy,
    schedule_body,
    service_dates,
    set_now,
    utc,
)

from flightdeck.flights.models import Flight, FlightCabin, Schedule
from flightdeck.platform.events.outbox import OutboxEvent

pytestmark = pytest.mark.asyncio(loop_scope="session")

JUNE_1 = utc(2026, 6, 1, 12)  # "now" for most tests: a week before the schedule starts


@dataclass(frozen=True)
class StoredFlight:
    id: str
    flight_number: str
    service_date: date
    departure_at: datetime
    arrival_at: datetime
    schedule_id: str | None
    sold: int


async def stored_flights(db: AsyncSession) -> dict[date, StoredFlight]:
    """Every stored flight by service date (read, then the session's transaction ends)."""
    rows = (await db.scalars(select(Flight).execution_options(populate_existing=True))).all()
    flights = {
        f.service_date: StoredFlight(
            f.id,
            f.flight_number,
            f.service_date,
            f.departure_at,
            f.arrival_at,
            f.schedule_id,
            sum(c.sold for c in f.cabins),
        )
        for f in rows
    }
    await db.rollback()  # SQLite: an open transaction would hold the write lock
    return flights


async def sell_seats(db: AsyncSession, flight_id: str, sold: int) -> None:
    await db.execute(
        update(FlightCabin).where(FlightCabin.flight_id == flight_id).values(sold=sold)
    )
    await db.commit()


async def create_schedule(
    client: httpx.AsyncClient, headers: dict[str, str], **overrides: Any
) -> dict[str, Any]:
    response = await client.post("/schedules", json=schedule_body(**overrides), headers=headers)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


# --- create -------------------------------------------------------------------------------


async def test_create_schedule_generates_one_flight_per_operating_day(
    app: FastAPI, client: httpx.AsyncClient, agent: AppUser, db: AsyncSession
) -> None:
    headers = set_now(app, JUNE_1, agent)

    body = await create_schedule(client, headers)

    schedule = body["schedule"]
    assert schedule["departure_local"] == "18:30" and schedule["source"] == "api"
    assert schedule["created_by"] == agent.id
    assert body["flights_created"] == 21 and body["skipped"] == []
    assert service_dates(body["flights"]) == [
        date(2026, 6, 8) + timedelta(days=n) for n in range(21)
    ]
    first = body["flights"][0]
    assert first["schedule_id"] == schedule["id"]
    assert first["cabins"]["economy"]["seats_available"] == 150
    assert first["departure_time"] == "2026-06-08T18:30:00-04:00"
    stored = await stored_flights(db)
    assert len(stored) == 21 and {f.schedule_id for f in stored.values()} == {schedule["id"]}


async def test_days_of_week_mask_generates_only_those_weekdays(
    app: FastAPI, client: httpx.AsyncClient, agent: AppUser
) -> None:
    headers = set_now(app, JUNE_1, agent)

    body = await create_schedule(client, headers, days_of_week="135")

    days = service_dates(body["flights"])
    assert {d.isoweekday() for d in days} == {1, 3, 5}
    assert len(days) == 9  # three Mondays, Wednesdays and Fridays in 8-28 June


async def test_overnight_arrival_lands_the_next_local_day(
    app: FastAPI, client: httpx.AsyncClient, agent: AppUser
) -> None:
    headers = set_now(app, JUNE_1, agent)

    body = await create_schedule(client, headers, valid_to="2026-06-08")

    (flight,) = body["flights"]
    assert flight["departure_time"] == "2026-06-08T18:30:00-04:00"
    assert flight["arrival_time"] == "2026-06-09T06:30:00+01:00"
    assert flight["duration_minutes"] == 7 * 60


async def test_dates_already_departed_or_taken_are_skipped(
    app: FastAPI, client: httpx.AsyncClient, agent: AppUser
) -> None:
    headers = set_now(app, utc(2026, 6, 10, 12), agent)
    await create_schedule(client, headers, days_of_week="5")  # Fridays 12, 19, 26

    body = await create_schedule(client, headers, days_of_week="12345", valid_to="2026-06-19")

    reasons = {s["service_date"]: s["reason"] for s in body["skipped"]}
    assert reasons == {
        "2026-06-08": "departure_passed",
        "2026-06-09": "departure_passed",
        "2026-06-12": "flight_exists",
        "2026-06-19": "flight_exists",
    }
    assert service_dates(body["flights"]) == [date(2026, 6, d) for d in (10, 11, 15, 16, 17, 18)]


def _body_without(field: str) -> dict[str, Any]:
    body = schedule_body()
    body.pop(field)
    return body


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (schedule_body(origin="QQQ"), "unknown_airport"),
        (schedule_body(destination="XQZ"), "unknown_airport"),
        (schedule_body(destination="JFK"), "validation_error"),
        (schedule_body(days_of_week=""), "validation_error"),
        (schedule_body(days_of_week="8"), "validation_error"),
        (schedule_body(days_of_week="531"), "validation_error"),
        (schedule_body(days_of_week="113"), "validation_error"),
        (schedule_body(valid_to="2026-06-07"), "validation_error"),
        (schedule_body(valid_to="2027-08-01"), "validation_error"),
        (schedule_body(arrival_day_offset=3), "validation_error"),
        (schedule_body(departure_local="25:00"), "validation_error"),
        (schedule_body(cabins=economy(seats=-1)), "validation_error"),
        (schedule_body(cabins={}), "validation_error"),
        (_body_without("valid_from"), "validation_error"),
        # Same zone, no day offset, arrival before departure.
        (
            schedule_body(destination="BOS", arrival_local="07:00", arrival_day_offset=0),
            "arrival_before_departure",
        ),
        # LHR 06:30 the same day is 01:30 at JFK: before the 18:30 departure.
        (schedule_body(arrival_day_offset=0), "arrival_before_departure"),
    ],
)
async def test_invalid_schedule_is_rejected_with_422_and_nothing_stored(
    app: FastAPI,
    client: httpx.AsyncClient,
    agent: AppUser,
    db: AsyncSession,
    body: dict[str, Any],
    code: str,
) -> None:
    headers = set_now(app, JUNE_1, agent)

    response = await client.post("/schedules", json=body, headers=headers)

    assert_error(response, 422, code)
    assert (await db.scalars(select(Schedule))).all() == []
    assert await stored_flights(db) == {}


async def test_unknown_origin_error_names_the_field(
    client: httpx.AsyncClient, agent: AppUser
) -> None:
    response = await client.post(
        "/schedules", json=schedule_body(origin="QQQ"), headers=agent.headers
    )

    error = assert_error(response, 422, "unknown_airport")
    assert error["details"] == {"field": "origin", "airport": "QQQ"}


# --- roles --------------------------------------------------------------------------------

ENDPOINTS = [
    ("POST", "/schedules"),
    ("GET", "/schedules"),
    ("GET", "/schedules/some-id"),
    ("PUT", "/schedules/some-id"),
    ("DELETE", "/schedules/some-id"),
    ("POST", "/schedules/import"),
]


def _request_kwargs(method: str, path: str) -> dict[str, Any]:
    if path == "/schedules/import":
        return {"files": {"file": ("s.ssim", b"not ssim", "text/plain")}}
    return {"json": schedule_body()} if method in ("POST", "PUT") else {}


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
async def test_schedules_need_a_token(client: httpx.AsyncClient, method: str, path: str) -> None:
    response = await client.request(method, path, **_request_kwargs(method, path))

    assert_error(response, 401, "not_authenticated")


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
async def test_passenger_cannot_use_schedules(
    client: httpx.AsyncClient, passenger: AppUser, method: str, path: str
) -> None:
    response = await client.request(
        method, path, headers=passenger.headers, **_request_kwargs(method, path)
    )

    assert_error(response, 403, "forbidden")


async def test_admin_can_create_schedules(
    app: FastAPI, client: httpx.AsyncClient, admin: AppUser
) -> None:
    headers = set_now(app, JUNE_1, admin)

    body = await create_schedule(client, headers, valid_to="2026-06-09")

    assert body["flights_created"] == 2


# --- read ---------------------------------------------------------------------------------


async def test_list_schedules_filters_and_pages(
    app: FastAPI, client: httpx.AsyncClient, agent: AppUser
) -> None:
    headers = set_now(app, JUNE_1, agent)
    for number, origin, destination in [
        ("FD101", "JFK", "LHR"),
        ("FD102", "LHR", "JFK"),
        ("FD201", "JFK", "CDG"),
    ]:
        arrival = {"LHR": "06:30", "CDG": "07:45", "JFK": "21:30"}[destination]
        await create_schedule(
            client,
            headers,
            flight_number=number,
            origin=origin,
            destination=destination,
            departure_local="18:30",
            arrival_local=arrival,
            arrival_day_offset=0 if destination == "JFK" else 1,
            valid_to="2026-06-09",
        )

    from_jfk = (await client.get("/schedules?origin=jfk", headers=headers)).json()
    first = (await client.get("/schedules?limit=2", headers=headers)).json()
    rest = (
        await client.get(f"/schedules?limit=2&cursor={first['next_cursor']}", headers=headers)
    ).json()
    by_number = (await client.get("/schedules?flight_number=fd102", headers=headers)).json()

    assert [s["flight_number"] for s in from_jfk["items"]] == ["FD101", "FD201"]
    assert [s["flight_number"] for s in first["items"] + rest["items"]] == [
        "FD101",
        "FD102",
        "FD201",
    ]
    assert rest["next_cursor"] is None
    assert [s["destination"] for s in by_number["items"]] == ["JFK"]


async def test_list_schedules_rejects_a_forged_cursor(
    client: httpx.AsyncClient, agent: AppUser
) -> None:
    response = await client.get("/schedules?cursor=WyJ4Il0", headers=agent.headers)

    assert_error(response, 422, "invalid_cursor")


async def test_get_schedule_counts_future_and_booked_flights(
    app: FastAPI, client: httpx.AsyncClient, agent: AppUser, db: AsyncSession
) -> None:
    headers = set_now(app, JUNE_1, agent)
    created = await create_schedule(client, headers)
    await sell_seats(db, created["flights"][5]["id"], 3)
    headers = set_now(app, utc(2026, 6, 13), agent)  # 8-12 June have departed

    response = await client.get(f"/schedules/{created['schedule']['id']}", headers=headers)

    assert response.status_code == 200
    detail = response.json()
    assert detail["future_flights"] == 16 and detail["future_flights_with_bookings"] == 1
    assert detail["cabins"] == economy()


async def test_unknown_schedule_is_404(client: httpx.AsyncClient, agent: AppUser) -> None:
    for method in ("GET", "PUT", "DELETE"):
        response = await client.request(
            method,
            "/schedules/no-such-schedule",
            headers=agent.headers,
            json=schedule_body() if method == "PUT" else None,
        )
        assert_error(response, 404, "schedule_not_found")


# --- change and delete --------------------------------------------------------------------


async def test_change_regenerates_only_future_unbooked_flights(
    app: FastAPI, client: httpx.AsyncClient, agent: AppUser, db: AsyncSession
) -> None:
    headers = set_now(app, JUNE_1, agent)
    created = await create_schedule(client, headers)
    booked = next(f for f in created["flights"] if f["service_date"] == "2026-06-17")
    await sell_seats(db, booked["id"], 2)
    before = await stored_flights(db)
    # 8-11 June have departed by now; the 12th leaves at 22:30Z.
    headers = set_now(app, utc(2026, 6, 12, 12), agent)

    response = await client.put(
        f"/schedules/{created['schedule']['id']}",
        json=schedule_body(departure_local="19:45", arrival_local="07:45"),
        headers=headers,
    )

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["schedule"]["departure_local"] == "19:45"
    assert body["kept_flights"] == [
        {
            "id": booked["id"],
            "flight_number": "FD101",
            "service_date": "2026-06-17",
            "reason": "has_bookings",
            # Kept at 18:30 while the schedule now says 19:45: its passengers are told.
            "difference": "times",
        }
    ]
    assert body["flights_removed"] == 16 and body["flights_created"] == 16
    after = await stored_flights(db)
    for day in (date(2026, 6, d) for d in range(8, 12)):
        assert after[day] == before[day]  # departed: untouched
    assert after[date(2026, 6, 17)] == before[date(2026, 6, 17)]  # booked: untouched
    moved = [after[day] for day in after if day >= date(2026, 6, 12) and day.day != 17]
    assert len(moved) == 16
    for flight in moved:
        assert flight.id != before[flight.service_date].id
        # 19:45 EDT is 23:45Z.
        assert flight.departure_at == datetime.combine(flight.service_date, time(23, 45), UTC)


async def test_change_is_recorded_as_one_schedule_event(
    app: FastAPI, client: httpx.AsyncClient, agent: AppUser, db: AsyncSession
) -> None:
    headers = set_now(app, JUNE_1, agent)
    created = await create_schedule(client, headers)

    await client.put(
        f"/schedules/{created['schedule']['id']}",
        json=schedule_body(aircraft="789"),
        headers=headers,
    )

    events = (
        await db.scalars(select(OutboxEvent).where(OutboxEvent.aggregate_type == "schedule"))
    ).all()
    recorded = sorted((e.event_type, e.payload["action"]) for e in events)
    await db.rollback()
    assert recorded == [("schedule.changed", "created"), ("schedule.changed", "updated")]


async def test_invalid_change_leaves_schedule_and_flights_untouched(
    app: FastAPI, client: httpx.AsyncClient, agent: AppUser, db: AsyncSession
) -> None:
    headers = set_now(app, JUNE_1, agent)
    created = await create_schedule(client, headers)
    before = await stored_flights(db)

    response = await client.put(
        f"/schedules/{created['schedule']['id']}",
        json=schedule_body(arrival_day_offset=0),
        headers=headers,
    )

    assert_error(response, 422, "arrival_before_departure")
    assert await stored_flights(db) == before


async def test_delete_removes_future_unbooked_flights_and_keeps_booked_ones(
    app: FastAPI, client: httpx.AsyncClient, agent: AppUser, db: AsyncSession
) -> None:
    headers = set_now(app, JUNE_1, agent)
    created = await create_schedule(client, headers)
    schedule_id = created["schedule"]["id"]
    booked = created["flights"][9]  # 17 June
    await sell_seats(db, booked["id"], 1)
    headers = set_now(app, utc(2026, 6, 12, 12), agent)

    response = await client.delete(f"/schedules/{schedule_id}", headers=headers)

    assert response.status_code == 200, response.text
    assert response.json() == {
        "flights_removed": 16,
        "kept_flights": [
            {
                "id": booked["id"],
                "flight_number": "FD101",
                "service_date": "2026-06-17",
                "reason": "has_bookings",
                "difference": "not in the schedule any more",
            }
        ],
    }
    remaining = await stored_flights(db)
    assert sorted(remaining) == [date(2026, 6, d) for d in (8, 9, 10, 11, 17)]
    assert {f.schedule_id for f in remaining.values()} == {None}
    missing = await client.get(f"/schedules/{schedule_id}", headers=headers)
    assert_error(missing, 404, "schedule_not_found")
