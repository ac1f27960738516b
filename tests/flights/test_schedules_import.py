"""POST /schedules/import: SSIM files become schedules and dated flights; bad lines are reported."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from tests.conftest import TestUser as AppUser
from tests.conftest import assert_error
from tests.flights.schedule_factories import (
    set_now,
    ssim_file,
    ssim_leg,
    ssim_segment,
    ssim_trailer,
    utc,
)

from flightdeck.flights.models import Flight, Schedule
from flightdeck.flights.schedules import importer
from flightdeck.platform.events.outbox import OutboxEvent

pytestmark = pytest.mark.asyncio(loop_scope="session")

SAMPLE = Path(__file__).parent / "data" / "sample.ssim"
JUNE_1 = utc(2026, 6, 1)
# FD101 JFK 18:30 → LHR 06:30 the next day, daily 8-28 June 2026 (EDT -0400, BST +0100).
JFK_LHR = ("JFK", "1830", "-0400", "LHR", "0630", "+0100")
AMS_LHR = ("AMS", "0700", "+0200", "LHR", "0715", "+0100")
LHR_JFK = ("LHR", "0900", "+0100", "JFK", "1130", "-0400")


async def import_file(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    content: bytes,
    **form: str,
) -> httpx.Response:
    return await client.post(
        "/schedules/import",
        files={"file": ("schedule.ssim", content, "application/octet-stream")},
        data=form,
        headers=headers,
    )


async def count(db: AsyncSession, model: type[Flight] | type[Schedule]) -> int:
    total = await db.scalar(select(func.count()).select_from(model))
    await db.rollback()
    return int(total or 0)


async def flights_of(db: AsyncSession, flight_number: str) -> list[dict[str, Any]]:
    flights = (
        await db.scalars(
            select(Flight)
            .where(Flight.flight_number == flight_number)
            .order_by(Flight.service_date)
        )
    ).all()
    rows = [
        {
            "service_date": f.service_date,
            "departure_at": f.departure_at,
            "arrival_at": f.arrival_at,
            "cabins": {c.cabin: (c.capacity, c.fare_amount, c.fare_currency) for c in f.cabins},
        }
        for f in flights
    ]
    await db.rollback()
    return rows


async def test_sample_file_loads_good_legs_and_rejects_bad_lines_by_number(
    app: FastAPI, client: httpx.AsyncClient, agent: AppUser, db: AsyncSession
) -> None:
    headers = set_now(app, utc(2026, 11, 20), agent)

    response = await import_file(client, headers, SAMPLE.read_bytes())

    assert response.status_code == 201, response.text
    result = response.json()
    assert result["carriers"] == ["FD", "ZX", "Q7"] and result["time_mode"] == "L"
    assert result["schedules_created"] == 11 and result["schedules_skipped"] == 0
    assert [r["line_number"] for r in result["rejected"]] == [15, 32, 47, 49]
    assert all(r["reason"] for r in result["rejected"])
    assert await count(db, Schedule) == 11
    assert result["flights_created"] == await count(db, Flight) > 0
    # FD101 AMS 07:00 (+0100) → LHR 07:15 (+0000), daily; C12Y138 gives two cabins.
    fd101 = await flights_of(db, "FD101")
    assert [f["service_date"] for f in fd101][:2] == [date(2026, 11, 20), date(2026, 11, 21)]
    assert fd101[-1]["service_date"] == date(2027, 3, 27)
    first = fd101[0]
    assert first["departure_at"] == datetime(2026, 11, 20, 6, 0, tzinfo=UTC)
    assert first["arrival_at"] == datetime(2026, 11, 20, 7, 15, tzinfo=UTC)
    assert first["cabins"] == {"business": (12, 40_000, "USD"), "economy": (138, 10_000, "USD")}
    # FD641 states JFK at -0500 on 25 October 2026, when New York is still on -0400.
    jfk_warnings = [w["warning"] for w in result["warnings"] if w["line_number"] == 13]
    assert jfk_warnings and "JFK" in jfk_warnings[0] and "America/New_York" in jfk_warnings[0]


async def test_importing_the_same_file_twice_creates_no_duplicates(
    app: FastAPI, client: httpx.AsyncClient, agent: AppUser, db: AsyncSession
) -> None:
    headers = set_now(app, utc(2026, 11, 20), agent)
    first = (await import_file(client, headers, SAMPLE.read_bytes())).json()
    flights = await count(db, Flight)

    response = await import_file(client, headers, SAMPLE.read_bytes())

    assert response.status_code == 200, response.text
    again = response.json()
    assert again["schedules_created"] == 0 and again["flights_created"] == 0
    assert again["schedules_skipped"] == first["schedules_created"] == 11
    assert again["rejected"] == first["rejected"]
    assert await count(db, Schedule) == 11 and await count(db, Flight) == flights


async def test_leg_with_unknown_airport_is_rejected_and_good_legs_still_load(
    app: FastAPI, client: httpx.AsyncClient, agent: AppUser, db: AsyncSession
) -> None:
    headers = set_now(app, JUNE_1, agent)
    content = ssim_file(
        ssim_leg(101, *JFK_LHR, serial=3),
        ssim_leg(102, "QQQ", "1000", "+0000", "LHR", "1200", "+0100", serial=4),
        "3 this line is not a flight leg",
        ssim_trailer(),
    )

    response = await import_file(client, headers, content)

    assert response.status_code == 201, response.text
    result = response.json()
    assert result["schedules_created"] == 1 and result["flights_created"] == 21
    assert [r["line_number"] for r in result["rejected"]] == [4, 5]
    assert result["rejected"][0]["reason"] == "departure station: unknown airport 'QQQ'"
    assert result["warnings"] == []
    fd101 = await flights_of(db, "FD101")
    assert fd101[0]["departure_at"] == datetime(2026, 6, 8, 22, 30, tzinfo=UTC)
    assert fd101[0]["arrival_at"] == datetime(2026, 6, 9, 5, 30, tzinfo=UTC)


async def test_cabins_come_from_the_configuration_priced_from_the_default_fare(
    app: FastAPI, client: httpx.AsyncClient, agent: AppUser, db: AsyncSession
) -> None:
    headers = set_now(app, JUNE_1, agent)
    content = ssim_file(
        ssim_leg(101, *JFK_LHR, configuration="J10W20Y100", serial=3),
        ssim_leg(103, *JFK_LHR, serial=4),
    )

    response = await import_file(
        client, headers, content, default_fare_amount="25000", currency="EUR"
    )

    assert response.status_code == 201, response.text
    assert (await flights_of(db, "FD101"))[0]["cabins"] == {
        "business": (10, 100_000, "EUR"),
        "economy": (100, 25_000, "EUR"),
        "premium_economy": (20, 50_000, "EUR"),
    }
    assert (await flights_of(db, "FD103"))[0]["cabins"] == {"economy": (150, 25_000, "EUR")}


async def test_stated_utc_variation_that_disagrees_with_the_zone_loads_with_a_warning(
    app: FastAPI, client: httpx.AsyncClient, agent: AppUser, db: AsyncSession
) -> None:
    headers = set_now(app, JUNE_1, agent)
    # New York is on -0400 in June; the file says -0500.
    content = ssim_file(ssim_leg(101, "JFK", "1830", "-0500", "LHR", "0630", "+0100"))

    result = (await import_file(client, headers, content)).json()

    assert result["flights_created"] == 21
    (warning,) = result["warnings"]
    assert warning["line_number"] == 3
    assert "-0500" in warning["warning"] and "-0400" in warning["warning"]
    # Converted with the zone, so still 18:30 local.
    fd101 = await flights_of(db, "FD101")
    assert fd101[0]["departure_at"] == datetime(2026, 6, 8, 22, 30, tzinfo=UTC)


async def test_utc_mode_file_is_converted_to_local_dates_and_times(
    app: FastAPI, client: httpx.AsyncClient, agent: AppUser, db: AsyncSession
) -> None:
    headers = set_now(app, JUNE_1, agent)
    # Mondays 23:00Z from Sydney (+1000) is Tuesday 09:00 local; Tokyo 08:30Z is 17:30 (+0900).
    content = ssim_file(
        ssim_leg(77, "SYD", "2300", "+1000", "NRT", "0830", "+0900", days="1"),
        time_mode="U",
    )

    result = (await import_file(client, headers, content)).json()

    assert result["time_mode"] == "U" and result["warnings"] == []
    listed = (await client.get("/schedules?flight_number=FD77", headers=headers)).json()
    (schedule,) = listed["items"]
    assert schedule["days_of_week"] == "2"
    assert (schedule["departure_local"], schedule["arrival_local"]) == ("09:00", "17:30")
    assert schedule["arrival_day_offset"] == 0
    assert (schedule["valid_from"], schedule["valid_to"]) == ("2026-06-09", "2026-06-29")
    flights = await flights_of(db, "FD77")
    assert [f["service_date"] for f in flights] == [date(2026, 6, d) for d in (9, 16, 23)]
    assert flights[0]["departure_at"] == datetime(2026, 6, 8, 23, 0, tzinfo=UTC)


async def test_multi_leg_flight_loads_every_leg_as_a_flight_of_its_own_on_one_flight_date(
    app: FastAPI, client: httpx.AsyncClient, agent: AppUser, db: AsyncSession
) -> None:
    headers = set_now(app, JUNE_1, agent)
    # FD5 AMS→LHR→JFK on Mondays; leg 2 leaves LHR the same day, one of its seats sold apart.
    content = ssim_file(
        ssim_leg(5, *AMS_LHR, days="1", configuration="J12Y100", serial=3),
        ssim_leg(5, *LHR_JFK, days="1", leg_sequence=2, configuration="J12Y100", serial=4),
    )

    result = (await import_file(client, headers, content)).json()

    assert result["schedules_created"] == 2 and result["flights_created"] == 6
    assert result["flights_skipped"] == 0 and result["warnings"] == []
    flights = (await client.get("/flights?flight_number=FD5&date=2026-06-08")).json()["items"]
    assert [(f["leg_sequence"], f["origin"], f["destination"]) for f in flights] == [
        (1, "AMS", "LHR"),
        (2, "LHR", "JFK"),
    ]
    assert {f["flight_date"] for f in flights} == {"2026-06-08"}
    assert {f["itinerary_variation"] for f in flights} == {1}
    assert all(f["cabins"]["economy"]["seats"] == 100 for f in flights)


async def test_overnight_leg_followed_by_a_next_day_leg_shares_the_flight_date(
    app: FastAPI, client: httpx.AsyncClient, agent: AppUser, db: AsyncSession
) -> None:
    headers = set_now(app, JUNE_1, agent)
    # FD801 AMS 20:50 (Wed) → DXB 06:25 (Thu); DXB 08:15 (Thu) → SIN 19:30 (Thu).
    content = ssim_file(
        ssim_leg(801, "AMS", "2050", "+0200", "DXB", "0625", "+0400", days="3",
                 date_variation="01", serial=3),
        ssim_leg(801, "DXB", "0815", "+0400", "SIN", "1930", "+0800", days="3",
                 leg_sequence=2, date_variation="11", serial=4),
    )  # fmt: skip

    result = (await import_file(client, headers, content)).json()

    assert result["flights_created"] == 6 and result["rejected"] == []
    legs = await flights_of(db, "FD801")
    assert [f["service_date"] for f in legs] == sorted(
        [date(2026, 6, d) for d in (10, 17, 24)] + [date(2026, 6, d) for d in (11, 18, 25)]
    )
    second = (await client.get("/flights?flight_number=FD801&date=2026-06-11")).json()["items"]
    assert [(f["leg_sequence"], f["flight_date"]) for f in second] == [(2, "2026-06-10")]
    assert second[0]["departure_time"] == "2026-06-11T08:15:00+04:00"


async def test_what_the_file_carries_reaches_the_flights(
    app: FastAPI, client: httpx.AsyncClient, agent: AppUser
) -> None:
    headers = set_now(app, JUNE_1, agent)
    content = ssim_file(
        ssim_leg(5, *AMS_LHR, days="1", traffic="AK", itinerary_variation=7, serial=3),
        ssim_leg(5, *LHR_JFK, days="1", leg_sequence=2, itinerary_variation=7, serial=4),
        ssim_segment(5, "AMS", "JFK", 2, "KL", itinerary_variation=7, serial=5),
        ssim_segment(5, "LHR", "JFK", 50, "KL 1597", leg_sequence=2, serial=6),
        ssim_leg(6, *AMS_LHR, service_type="F", days="1", serial=7),
    )

    result = (await import_file(client, headers, content)).json()

    assert result["rejected"] == [] and result["warnings"] == []
    first, second = (await client.get("/flights?flight_number=FD5&date=2026-06-08")).json()["items"]
    assert (first["traffic_restrictions"], first["itinerary_variation"]) == ("AK", 7)
    assert (first["operating_carrier"], second["operating_carrier"]) == ("KL", "KL")
    assert second["operating_flight"] == "KL1597"
    (cargo,) = (await client.get("/flights?flight_number=FD6&date=2026-06-08")).json()["items"]
    assert cargo["service_type"] == "F" and cargo["cabins"] == {}


async def test_every_configuration_form_gives_cabins_and_an_unreadable_one_a_warning(
    app: FastAPI, client: httpx.AsyncClient, agent: AppUser, db: AsyncSession
) -> None:
    headers = set_now(app, JUNE_1, agent)
    forms = ["J42W24Y302", "Y118VV118", "J14W34Y316VV364", "F8C42M180", "VV738", "J1234", ""]
    content = ssim_file(
        *(
            ssim_leg(100 + i, *AMS_LHR, days="1", configuration=form, serial=3 + i)
            for i, form in enumerate(forms)
        )
    )

    result = (await import_file(client, headers, content)).json()

    assert result["schedules_created"] == len(forms) and result["rejected"] == []
    seats = {}
    for i in range(len(forms)):
        (flight, *_) = await flights_of(db, f"FD{100 + i}")
        seats[forms[i]] = {cabin: spec[0] for cabin, spec in flight["cabins"].items()}
    assert seats == {
        "J42W24Y302": {"business": 42, "premium_economy": 24, "economy": 302},
        "Y118VV118": {"economy": 118},
        "J14W34Y316VV364": {"business": 14, "premium_economy": 34, "economy": 316},
        "F8C42M180": {"first": 8, "business": 42, "economy": 180},
        "VV738": {"economy": 150},
        "J1234": {"economy": 150},
        "": {"economy": 150},
    }
    warned = {w["line_number"]: w["warning"] for w in result["warnings"]}
    assert sorted(warned) == [7, 8]  # the version alone and the unreadable one
    assert all(w.startswith("aircraft configuration/version:") for w in warned.values())


async def test_a_file_larger_than_a_batch_loads_whole_and_skips_repeats_across_batches(
    app: FastAPI,
    client: httpx.AsyncClient,
    agent: AppUser,
    db: AsyncSession,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(importer, "BATCH_LEGS", 2)
    headers = set_now(app, JUNE_1, agent)
    legs = [ssim_leg(200 + i, *AMS_LHR, days="1", serial=3 + i) for i in range(5)]
    repeat = ssim_leg(200, *AMS_LHR, days="1", serial=9)  # the first leg again, a batch later

    result = (await import_file(client, headers, ssim_file(*legs, repeat))).json()

    assert result["schedules_created"] == 5 and result["schedules_skipped"] == 1
    assert result["flights_created"] == 15 and await count(db, Flight) == 15
    assert [w["line_number"] for w in result["warnings"]] == [8]
    assert "already scheduled (a stored schedule)" in result["warnings"][0]["warning"]


async def test_events_of_an_import_list_its_schedules_batch_by_batch(
    app: FastAPI,
    client: httpx.AsyncClient,
    agent: AppUser,
    db: AsyncSession,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(importer, "BATCH_LEGS", 2)
    headers = set_now(app, JUNE_1, agent)
    content = ssim_file(*(ssim_leg(300 + i, *AMS_LHR, serial=3 + i) for i in range(3)))

    await import_file(client, headers, content)

    events = (
        await db.scalars(select(OutboxEvent).where(OutboxEvent.event_type == "schedule.changed"))
    ).all()
    listed = sorted(len(e.payload["schedule_ids"]) for e in events)
    await db.rollback()
    assert listed == [1, 2] and await count(db, Schedule) == 3


@pytest.mark.parametrize(
    "content",
    [b"", b"hello,world\nthis is a CSV file\n", bytes(range(256)) * 4],
    ids=["empty", "text", "binary"],
)
async def test_a_file_that_is_not_ssim_is_422(
    client: httpx.AsyncClient, agent: AppUser, db: AsyncSession, content: bytes
) -> None:
    response = await import_file(client, agent.headers, content)

    assert_error(response, 422, "invalid_ssim")
    assert await count(db, Schedule) == 0


async def test_a_file_over_5_mb_is_413(
    client: httpx.AsyncClient, agent: AppUser, db: AsyncSession
) -> None:
    content = ssim_file(ssim_leg(101, *JFK_LHR)) + b"0" * (5 * 1024 * 1024)

    response = await import_file(client, agent.headers, content)

    assert_error(response, 413, "payload_too_large")
    assert await count(db, Schedule) == 0


async def test_import_needs_the_file(client: httpx.AsyncClient, agent: AppUser) -> None:
    response = await client.post("/schedules/import", headers=agent.headers)

    assert_error(response, 422, "validation_error")
