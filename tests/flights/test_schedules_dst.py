"""Schedules keep their local times across DST changes; the UTC instants move instead.

2027: the US springs forward on 14 March and falls back on 7 November, the UK on 28 March and
31 October; Sydney leaves DST on 4 April; Tokyo has none.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from tests.conftest import TestUser as AppUser
from tests.flights.schedule_factories import schedule_body, set_now, utc

from flightdeck.flights.models import Flight

pytestmark = pytest.mark.asyncio(loop_scope="session")

BEFORE_2027 = utc(2026, 11, 1)  # "now": every 2027 date below is in the future


async def create_flights(
    app: FastAPI, client: httpx.AsyncClient, user: AppUser, **overrides: Any
) -> dict[date, dict[str, Any]]:
    headers = set_now(app, BEFORE_2027, user)
    response = await client.post("/schedules", json=schedule_body(**overrides), headers=headers)
    assert response.status_code == 201, response.text
    return {date.fromisoformat(f["service_date"]): f for f in response.json()["flights"]}


async def stored_instants(db: AsyncSession) -> dict[date, tuple[datetime, datetime]]:
    rows = (
        await db.execute(select(Flight.service_date, Flight.departure_at, Flight.arrival_at))
    ).all()
    await db.rollback()
    return {day: (departure, arrival) for day, departure, arrival in rows}


def days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), UTC)


def local_time(iso: str) -> tuple[str, str]:
    """("18:30", "-05:00") from an ISO instant with its local offset."""
    moment = datetime.fromisoformat(iso)
    offset = moment.strftime("%z")
    return moment.strftime("%H:%M"), f"{offset[:3]}:{offset[3:]}"


async def test_daily_jfk_departure_stays_1830_local_across_the_march_changes(
    app: FastAPI, client: httpx.AsyncClient, agent: AppUser, db: AsyncSession
) -> None:
    flights = await create_flights(
        app, client, agent, valid_from="2027-03-07", valid_to="2027-04-03"
    )
    stored = await stored_instants(db)

    assert sorted(flights) == days(date(2027, 3, 7), date(2027, 4, 3))
    for day, flight in flights.items():
        us_summer = day >= date(2027, 3, 14)
        uk_summer = day + timedelta(days=1) >= date(2027, 3, 28)
        assert local_time(flight["departure_time"]) == (
            "18:30",
            "-04:00" if us_summer else "-05:00",
        )
        assert local_time(flight["arrival_time"]) == ("06:30", "+01:00" if uk_summer else "+00:00")
        departure_at, arrival_at = stored[day]
        assert departure_at == (at(day, 22, 30) if us_summer else at(day, 23, 30))
        assert arrival_at == at(day + timedelta(days=1), 5 if uk_summer else 6, 30)
    # Between the US and the UK changes the same local times are an hour longer.
    durations = {day: flights[day]["duration_minutes"] for day in flights}
    assert {durations[d] for d in days(date(2027, 3, 7), date(2027, 3, 13))} == {420}
    assert {durations[d] for d in days(date(2027, 3, 14), date(2027, 3, 26))} == {480}
    assert {durations[d] for d in days(date(2027, 3, 27), date(2027, 4, 3))} == {420}


async def test_daily_jfk_departure_stays_1830_local_across_the_autumn_changes(
    app: FastAPI, client: httpx.AsyncClient, agent: AppUser, db: AsyncSession
) -> None:
    flights = await create_flights(
        app, client, agent, valid_from="2027-10-24", valid_to="2027-11-14"
    )
    stored = await stored_instants(db)

    for day, flight in flights.items():
        us_summer = day < date(2027, 11, 7)
        uk_summer = day + timedelta(days=1) < date(2027, 10, 31)
        assert local_time(flight["departure_time"]) == (
            "18:30",
            "-04:00" if us_summer else "-05:00",
        )
        assert local_time(flight["arrival_time"]) == ("06:30", "+01:00" if uk_summer else "+00:00")
        assert stored[day] == (
            at(day, 22, 30) if us_summer else at(day, 23, 30),
            at(day + timedelta(days=1), 5 if uk_summer else 6, 30),
        )
    durations = {day: flights[day]["duration_minutes"] for day in flights}
    assert {durations[d] for d in days(date(2027, 10, 24), date(2027, 10, 29))} == {420}
    assert {durations[d] for d in days(date(2027, 10, 30), date(2027, 11, 6))} == {480}
    assert {durations[d] for d in days(date(2027, 11, 7), date(2027, 11, 14))} == {420}


async def test_sydney_to_tokyo_follows_the_southern_autumn_change(
    app: FastAPI, client: httpx.AsyncClient, agent: AppUser, db: AsyncSession
) -> None:
    flights = await create_flights(
        app,
        client,
        agent,
        flight_number="FD77",
        origin="SYD",
        destination="NRT",
        departure_local="09:00",
        arrival_local="17:30",
        arrival_day_offset=0,
        valid_from="2027-03-29",
        valid_to="2027-04-11",
    )
    stored = await stored_instants(db)

    for day, flight in flights.items():
        sydney_summer = day < date(2027, 4, 4)
        assert local_time(flight["departure_time"]) == (
            "09:00",
            "+11:00" if sydney_summer else "+10:00",
        )
        assert local_time(flight["arrival_time"]) == ("17:30", "+09:00")
        # 09:00 in Sydney is the previous evening in UTC; the service date stays the local one.
        previous = day - timedelta(days=1)
        assert stored[day][0] == at(previous, 22 if sydney_summer else 23)
        assert stored[day][1] == at(day, 8, 30)
        assert flight["duration_minutes"] == (630 if sydney_summer else 570)
