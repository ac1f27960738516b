"""POST /schedules/messages: IATA SSM actions applied as the equivalent schedule edits, each
reported; a malformed message is a 422 naming its line and changes nothing."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from tests.bookings.factories import booking_body
from tests.conftest import TestUser as AppUser
from tests.conftest import assert_error
from tests.flights.schedule_factories import set_now, utc

from flightdeck.flights.models import Flight, Schedule
from flightdeck.notifications.handlers import FLIGHT_SCHEDULE_CHANGED, plan_flight_schedule_changed
from flightdeck.notifications.service import NotificationContent
from flightdeck.platform.events.bus import Event
from flightdeck.platform.events.outbox import OutboxEvent

pytestmark = pytest.mark.asyncio(loop_scope="session")

JUNE_1 = utc(2026, 6, 1)
# FD5 AMS 07:00 → LHR 07:15, LHR 09:00 → JFK 11:30, daily 8-28 June 2026.
NEW_FD5 = """SSM
LT
NEW
FD5
08JUN26 28JUN26 1234567
J 320 J12Y100
AMS0700 LHR0715
LHR0900 JFK1130
AMSLHR 2/KL
AMSJFK 8/K
"""


def message(*lines: str) -> str:
    return "\n".join(["SSM", "LT", *lines]) + "\n"


async def send(
    client: httpx.AsyncClient, headers: dict[str, str], text: str, status: int = 200
) -> dict[str, Any]:
    response = await client.post(
        "/schedules/messages",
        content=text.encode(),
        headers={**headers, "Content-Type": "text/plain"},
    )
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    return body


async def applied(client: httpx.AsyncClient, headers: dict[str, str], text: str) -> dict[str, Any]:
    (result,) = (await send(client, headers, text))["messages"]
    assert result["status"] == "applied", result
    return dict(result)


@dataclass(frozen=True)
class Leg:
    id: str
    destination: str
    departure_at: datetime
    aircraft: str | None
    operating_carrier: str | None
    traffic_restrictions: str | None
    cabins: dict[str, tuple[int, int]]  # cabin -> (seats, fare)


async def flights(db: AsyncSession, leg: int = 1) -> dict[date, Leg]:
    """FD5's flights of that leg by flight date (read, then the transaction ends)."""
    rows = (
        await db.scalars(
            select(Flight)
            .where(Flight.flight_number == "FD5", Flight.leg_sequence == leg)
            .execution_options(populate_existing=True)
        )
    ).all()
    found = {
        f.flight_date: Leg(
            f.id,
            f.destination,
            f.departure_at,
            f.aircraft,
            f.operating_carrier,
            f.traffic_restrictions,
            {c.cabin: (c.capacity, c.fare_amount) for c in f.cabins},
        )
        for f in rows
    }
    await db.rollback()
    return found


async def schedules(db: AsyncSession) -> list[tuple[int, str, date, date, str, time]]:
    rows = (await db.scalars(select(Schedule).execution_options(populate_existing=True))).all()
    found = sorted(
        (s.leg_sequence, s.status, s.valid_from, s.valid_to, s.days_of_week, s.departure_local)
        for s in rows
    )
    await db.rollback()
    return found


async def notice_for(
    app: FastAPI, db: AsyncSession, flight_id: str
) -> tuple[list[str], NotificationContent]:
    """Whom the kept flight's `flight.schedule_changed` event tells, and what.

    Read from the outbox and planned here rather than awaited in an inbox: the test session
    may also run the bookings tests' second app (the MongoDB store, on this same database),
    whose relay can take the event and look for the passenger in its own store.
    """
    row = await db.scalar(
        select(OutboxEvent).where(
            OutboxEvent.event_type == FLIGHT_SCHEDULE_CHANGED, OutboxEvent.aggregate_id == flight_id
        )
    )
    assert row is not None, f"no {FLIGHT_SCHEDULE_CHANGED} event for {flight_id}"
    event = Event(
        id=row.id,
        type=row.event_type,
        aggregate_type=row.aggregate_type,
        aggregate_id=row.aggregate_id,
        payload=row.payload,
        occurred_at=row.created_at,
        actor_id=row.actor_id,
    )
    await db.rollback()
    async with app.state.sessionmaker() as session:
        planned = await plan_flight_schedule_changed(session, event)
    assert planned is not None
    return planned


def june(*days: int) -> set[date]:
    return {date(2026, 6, day) for day in days}


async def test_new_creates_every_leg_of_the_flight_with_its_segment_data(
    app: FastAPI, client: httpx.AsyncClient, agent: AppUser, db: AsyncSession
) -> None:
    headers = set_now(app, JUNE_1, agent)

    result = await applied(client, headers, NEW_FD5)

    assert result["action"] == "NEW" and result["flight_number"] == "FD5"
    assert (result["schedules_created"], result["flights_created"]) == (2, 42)
    first, second = await flights(db, 1), await flights(db, 2)
    assert set(first) == set(second) == june(*range(8, 29))
    leg1, leg2 = first[date(2026, 6, 8)], second[date(2026, 6, 8)]
    assert leg1.departure_at == datetime(2026, 6, 8, 5, 0, tzinfo=UTC)  # 07:00 CEST
    assert leg2.departure_at == datetime(2026, 6, 8, 8, 0, tzinfo=UTC)  # 09:00 BST
    assert (leg1.operating_carrier, leg2.operating_carrier) == ("KL", None)
    assert leg1.traffic_restrictions == " K"  # AMS-JFK through: connecting traffic only
    assert leg1.cabins == {"business": (12, 40_000), "economy": (100, 10_000)}


async def test_new_for_a_flight_already_flying_then_is_rejected(
    app: FastAPI, client: httpx.AsyncClient, agent: AppUser, db: AsyncSession
) -> None:
    headers = set_now(app, JUNE_1, agent)
    await applied(client, headers, NEW_FD5)

    (result,) = (await send(client, headers, NEW_FD5))["messages"]

    assert result["status"] == "rejected" and "already flies" in result["reason"]
    assert result["schedules_created"] == 0
    assert len(await schedules(db)) == 2


async def test_cnl_cancels_the_covered_dates_and_keeps_booked_flights_telling_passengers(
    app: FastAPI,
    client: httpx.AsyncClient,
    agent: AppUser,
    passenger: AppUser,
    db: AsyncSession,
) -> None:
    headers = set_now(app, JUNE_1, agent)
    await applied(client, headers, NEW_FD5)
    booked = (await flights(db))[date(2026, 6, 17)]
    passenger_headers = set_now(app, JUNE_1, passenger)
    response = await client.post(
        "/bookings", json=booking_body([booked.id]), headers=passenger_headers
    )
    assert response.status_code == 201, response.text

    result = await applied(client, headers, message("CNL", "FD5", "15JUN26 21JUN26 135"))

    # Leg 1: Mon 15, Wed 17 (booked: kept), Fri 19 go; so do leg 2's three.
    left = await flights(db)
    assert june(15, 19).isdisjoint(left) and date(2026, 6, 17) in left
    assert left[date(2026, 6, 17)].id == booked.id
    assert june(16, 18, 20, 21) <= set(left)
    assert june(15, 17, 19).isdisjoint(await flights(db, 2))
    (kept,) = result["kept_flights"]
    assert (kept["id"], kept["difference"]) == (booked.id, "not in the schedule any more")
    assert result["schedules_changed"] == 2 and result["schedules_created"] == 6
    assert (
        1,
        "cancelled",
        date(2026, 6, 15),
        date(2026, 6, 19),
        "135",
        time(7),
    ) in await schedules(db)
    user_ids, notice = await notice_for(app, db, booked.id)
    assert user_ids == [passenger.id] and notice.kind == FLIGHT_SCHEDULE_CHANGED
    assert "FD5" in notice.title and "out of its schedule" in notice.message


async def test_rin_reinstates_cancelled_dates(
    app: FastAPI, client: httpx.AsyncClient, agent: AppUser, db: AsyncSession
) -> None:
    headers = set_now(app, JUNE_1, agent)
    await applied(client, headers, NEW_FD5)
    await applied(client, headers, message("CNL", "FD5", "15JUN26 21JUN26 1234567"))
    assert june(*range(15, 22)).isdisjoint(await flights(db))

    result = await applied(client, headers, message("RIN", "FD5", "17JUN26 18JUN26 1234567"))

    assert june(17, 18) <= set(await flights(db)) and june(17, 18) <= set(await flights(db, 2))
    assert june(15, 16, 19, 20, 21).isdisjoint(await flights(db))
    assert result["flights_created"] == 4


async def test_tim_retimes_the_named_leg_for_the_period_only(
    app: FastAPI, client: httpx.AsyncClient, agent: AppUser, db: AsyncSession
) -> None:
    headers = set_now(app, JUNE_1, agent)
    await applied(client, headers, NEW_FD5)

    await applied(
        client, headers, message("TIM", "FD5", "22JUN26 28JUN26 1234567", "AMS0800 LHR0815")
    )

    first, second = await flights(db), await flights(db, 2)
    assert first[date(2026, 6, 22)].departure_at == datetime(2026, 6, 22, 6, 0, tzinfo=UTC)
    assert first[date(2026, 6, 21)].departure_at == datetime(2026, 6, 21, 5, 0, tzinfo=UTC)
    assert second[date(2026, 6, 22)].departure_at == datetime(2026, 6, 22, 8, 0, tzinfo=UTC)
    assert (1, "active", date(2026, 6, 22), date(2026, 6, 28), "1234567", time(8)) in (
        await schedules(db)
    )


async def test_tim_for_a_leg_the_flight_lacks_is_rejected_naming_the_line(
    app: FastAPI, client: httpx.AsyncClient, agent: AppUser
) -> None:
    headers = set_now(app, JUNE_1, agent)
    await applied(client, headers, NEW_FD5)

    (result,) = (
        await send(client, headers, message("TIM", "FD5", "22JUN26 28JUN26 1", "AMS0800 CDG0900"))
    )["messages"]

    assert result["status"] == "rejected"
    assert result["reason"].startswith("line 6:") and "AMS-CDG" in result["reason"]


async def test_eqt_changes_equipment_and_cabins_keeping_their_fares(
    app: FastAPI, client: httpx.AsyncClient, agent: AppUser, db: AsyncSession
) -> None:
    headers = set_now(app, JUNE_1, agent)
    await applied(client, headers, NEW_FD5)

    await applied(
        client, headers, message("EQT", "FD5", "22JUN26 28JUN26 1234567", "J 789 JW.J30W20Y200")
    )

    changed = (await flights(db))[date(2026, 6, 22)]
    assert changed.aircraft == "789"
    assert changed.cabins == {
        "business": (30, 40_000),
        "premium_economy": (20, 20_000),
        "economy": (200, 10_000),
    }
    assert (await flights(db))[date(2026, 6, 21)].aircraft == "320"


async def test_rpl_replaces_the_flights_legs_for_the_period(
    app: FastAPI, client: httpx.AsyncClient, agent: AppUser, db: AsyncSession
) -> None:
    headers = set_now(app, JUNE_1, agent)
    await applied(client, headers, NEW_FD5)

    result = await applied(
        client,
        headers,
        message("RPL", "FD5", "22JUN26 28JUN26 1234567", "J 77W J30Y250", "AMS1000 JFK1230"),
    )

    first = await flights(db)
    assert first[date(2026, 6, 22)].destination == "JFK"
    assert first[date(2026, 6, 21)].destination == "LHR"
    assert june(*range(22, 29)).isdisjoint(await flights(db, 2))
    assert result["schedules_created"] == 1 and result["schedules_changed"] == 2


@pytest.mark.parametrize(
    ("change", "difference", "told"),
    [
        (("TIM", "FD5", "22JUN26 28JUN26 1234567", "AMS0800 LHR0815"), "times", "other times"),
        (
            ("EQT", "FD5", "22JUN26 28JUN26 1234567", "J 789 J30Y200"),
            "aircraft",
            "another aircraft",
        ),
        (
            ("RPL", "FD5", "22JUN26 28JUN26 1234567", "J 77W J30Y250", "AMS1000 JFK1230"),
            "not in the schedule any more",
            "out of its schedule",
        ),
    ],
)
async def test_a_change_keeps_a_booked_flight_as_it_is_and_tells_its_passengers(
    app: FastAPI,
    client: httpx.AsyncClient,
    agent: AppUser,
    passenger: AppUser,
    db: AsyncSession,
    change: tuple[str, ...],
    difference: str,
    told: str,
) -> None:
    headers = set_now(app, JUNE_1, agent)
    await applied(client, headers, NEW_FD5)
    before = await flights(db)
    booked, unsold = before[date(2026, 6, 24)], before[date(2026, 6, 23)]
    passenger_headers = set_now(app, JUNE_1, passenger)
    response = await client.post(
        "/bookings", json=booking_body([booked.id]), headers=passenger_headers
    )
    assert response.status_code == 201, response.text

    result = await applied(client, headers, message(*change))

    (kept,) = result["kept_flights"]
    assert (kept["id"], kept["difference"]) == (booked.id, difference)
    after = await flights(db)
    assert after[date(2026, 6, 24)] == booked  # same times, aircraft, cabins and fares
    assert replace(after[date(2026, 6, 23)], id="") != replace(unsold, id="")  # it did change
    user_ids, notice = await notice_for(app, db, booked.id)
    assert user_ids == [passenger.id] and notice.kind == FLIGHT_SCHEDULE_CHANGED
    assert "FD5" in notice.title and told in notice.message


async def test_utc_message_is_converted_with_the_zones_and_split_at_dst(
    app: FastAPI, client: httpx.AsyncClient, agent: AppUser, db: AsyncSession
) -> None:
    headers = set_now(app, utc(2026, 9, 1), agent)
    text = "\n".join(
        ["SSM", "UTC", "NEW", "FD5", "20OCT26 30OCT26 1234567", "J 320 Y150", "AMS0600 LHR0715"]
    )

    result = await applied(client, headers, text)

    # 06:00Z is 08:00 in Amsterdam until 24 October, 07:00 after Europe's change.
    assert result["schedules_created"] == 2
    departures = {(s[2], s[5]) for s in await schedules(db)}
    assert departures == {(date(2026, 10, 20), time(8)), (date(2026, 10, 25), time(7))}
    assert all(f.departure_at.time() == time(6) for f in (await flights(db)).values())


async def test_one_action_rejected_the_others_still_apply(
    app: FastAPI, client: httpx.AsyncClient, agent: AppUser, db: AsyncSession
) -> None:
    headers = set_now(app, JUNE_1, agent)
    text = NEW_FD5 + "//\nCNL\nFD9\n10JUN26 12JUN26 1234567\n"

    results = (await send(client, headers, text))["messages"]

    assert [(r["index"], r["action"], r["status"]) for r in results] == [
        (1, "NEW", "applied"),
        (2, "CNL", "rejected"),
    ]
    assert results[1]["line_number"] == 12 and "FD9" in results[1]["reason"]
    assert len(await schedules(db)) == 2


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        ("SSM\nGMT\nNEW\n", 2, "time mode"),
        (message("NEW", "FD5", "8JUN 28JUN 1234567"), 5, "period"),
        (message("CON", "FD5"), 3, "action"),
        (message("NEW", "F-5"), 4, "flight designator"),
        (message("NEW", "FD5", "08JUN26 28JUN26 1234567", "AMS0700 LHR0715"), 3, "equipment"),
        (
            message("NEW", "FD5", "08JUN26 28JUN26 1234567", "J 320 Y100", "AMS070 LHR0715"),
            7,
            "leg",
        ),
        (message("CNL", "FD5", "08JUN26 28JUN26 1234567/W2"), 5, "frequency"),
        (message("CNL", "FD5", "08JUN26 01JUN26 1234567"), 5, "before"),
        (message("TIM", "FD5", "08JUN26 28JUN26 1234567"), 3, "leg line"),
    ],
)
async def test_malformed_message_is_422_naming_the_line(
    client: httpx.AsyncClient, agent: AppUser, text: str, line: int, fragment: str
) -> None:
    response = await client.post(
        "/schedules/messages",
        content=text.encode(),
        headers={**agent.headers, "Content-Type": "text/plain"},
    )

    error = assert_error(response, 422, "invalid_ssm")
    assert error["details"] == {"line_number": line, "reason": error["details"]["reason"]}  # type: ignore[index]
    assert str(error["message"]).startswith(f"line {line}:") and fragment in str(error["message"])


async def test_a_malformed_action_stops_the_whole_message_before_anything_applies(
    app: FastAPI, client: httpx.AsyncClient, agent: AppUser, db: AsyncSession
) -> None:
    headers = set_now(app, JUNE_1, agent)
    text = NEW_FD5 + "//\nCNL\nFD5\n10JUN26 12JUN26 123456X\n"

    response = await client.post(
        "/schedules/messages",
        content=text.encode(),
        headers={**headers, "Content-Type": "text/plain"},
    )

    error = assert_error(response, 422, "invalid_ssm")
    assert str(error["message"]).startswith("line 14:")
    count = await db.scalar(select(func.count()).select_from(Schedule))
    await db.rollback()
    assert count == 0


async def test_messages_are_for_staff(client: httpx.AsyncClient, passenger: AppUser) -> None:
    assert_error(await client.post("/schedules/messages", content=NEW_FD5.encode()), 401)
    assert_error(
        await client.post(
            "/schedules/messages", content=NEW_FD5.encode(), headers=passenger.headers
        ),
        403,
    )
