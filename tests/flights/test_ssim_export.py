"""GET /schedules/export: what FlightDeck holds as a valid SSIM chapter 7 file, streamed; an
import of the export gives back the same schedules and flights."""

from __future__ import annotations

from datetime import date
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession
from tests.conftest import TestUser as AppUser
from tests.conftest import assert_error
from tests.flights.schedule_factories import (
    schedule_body,
    set_now,
    ssim_file,
    ssim_leg,
    ssim_segment,
    utc,
)
from tests.flights.ssim_season import SeasonSpec, season_lines

from flightdeck.flights.models import Flight, FlightCabin, Schedule

pytestmark = pytest.mark.asyncio(loop_scope="session")

SEPTEMBER_1 = utc(2026, 9, 1)
JUNE_1 = utc(2026, 6, 1)
AMS_LHR = ("AMS", "0700", "+0200", "LHR", "0715", "+0100")
LHR_JFK = ("LHR", "0900", "+0100", "JFK", "1130", "-0400")
_NOT_COMPARED = {"id", "created_at", "updated_at", "created_by", "schedule_id"}


async def import_file(
    client: httpx.AsyncClient, headers: dict[str, str], content: bytes
) -> dict[str, Any]:
    response = await client.post(
        "/schedules/import",
        files={"file": ("schedule.ssim", content, "application/octet-stream")},
        headers=headers,
    )
    assert response.status_code in (200, 201), response.text
    result: dict[str, Any] = response.json()
    return result


async def export(client: httpx.AsyncClient, headers: dict[str, str], **params: str) -> list[str]:
    response = await client.get("/schedules/export", params=params, headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    assert response.text.endswith("\n")
    return response.text.split("\n")[:-1]


def legs_of(lines: list[str]) -> list[str]:
    return [line for line in lines if line.startswith("3")]


async def snapshot(db: AsyncSession) -> tuple[list[str], list[str]]:
    """Every schedule and flight (with cabins) as comparable text, ids and times aside."""

    def fields(row: Schedule | Flight) -> str:
        columns = type(row).__table__.columns.keys()
        return repr({c: getattr(row, c) for c in columns if c not in _NOT_COMPARED})

    schedules = sorted(fields(s) for s in await db.scalars(select(Schedule)))
    flights = sorted(
        fields(f) + repr(sorted((c.cabin, c.capacity, c.fare_amount) for c in f.cabins))
        for f in await db.scalars(select(Flight))
    )
    await db.rollback()
    return schedules, flights


async def wipe(db: AsyncSession) -> None:
    for model in (FlightCabin, Flight, Schedule):
        await db.execute(delete(model))
    await db.commit()


async def test_export_is_a_valid_chapter_7_file(
    app: FastAPI, client: httpx.AsyncClient, agent: AppUser
) -> None:
    headers = set_now(app, SEPTEMBER_1, agent)
    await import_file(client, headers, "".join(season_lines(SeasonSpec())).encode())

    lines = await export(client, headers)

    assert {len(line) for line in lines} == {200}
    assert len(lines) % 5 == 0  # whole blocks of five records
    records = [(i, line) for i, line in enumerate(lines) if set(line) != {"0"}]
    assert [int(line[194:]) for _, line in records] == list(range(1, len(records) + 1))
    kinds = "".join(line[0] for _, line in records)
    assert kinds[0] == "1" and kinds.count("2") == kinds.count("5") == 3
    assert set(kinds[1:]) <= {"2", "3", "4", "5"}
    for index, line in records:
        if line[0] in "125":
            assert index % 5 == 0, f"record type {line[0]} does not start a block"
        if line[0] == "5":
            assert int(line[187:193]) == int(line[194:]) - 1  # serial number check reference
    trailers = [line for _, line in records if line[0] == "5"]
    assert [t[193] for t in trailers] == ["C", "C", "E"]
    carriers = [line for _, line in records if line[0] == "2"]
    assert [c[2:5].strip() for c in carriers] == ["FD", "Q7", "ZX"]
    assert {c[1] for c in carriers} == {"L"}  # written in local time


async def test_legs_are_written_in_local_time_with_the_variation_true_for_their_dates(
    app: FastAPI, client: httpx.AsyncClient, agent: AppUser
) -> None:
    headers = set_now(app, SEPTEMBER_1, agent)
    body = schedule_body(valid_from="2026-10-20", valid_to="2026-11-08", aircraft="77W")
    assert (await client.post("/schedules", json=body, headers=headers)).status_code == 201

    legs = legs_of(await export(client, headers, carrier="FD"))

    # London leaves summer time on 25 October (the 24th's flight lands after it), New York
    # on 1 November: three records.
    assert [(leg[14:28], leg[47:52], leg[65:70]) for leg in legs] == [
        ("20OCT2623OCT26", "-0400", "+0100"),
        ("24OCT2631OCT26", "-0400", "+0000"),
        ("01NOV2608NOV26", "-0500", "+0000"),
    ]
    # A piece's days are the weekdays it has (20-23 October: Tuesday to Friday).
    assert [leg[28:35] for leg in legs] == [" 2345  ", "1234567", "1234567"]
    for number, leg in enumerate(legs, start=1):
        assert leg[2:13] == f"FD 0101{number:02d}01"  # one itinerary variation each
        assert (leg[36:47], leg[54:65]) == ("JFK18301830", "LHR06300630")
        assert (leg[72:75], leg[172:192].strip(), leg[192:194]) == ("77W", "Y150", "01")


async def test_import_of_the_export_gives_the_same_schedules_and_flights(
    app: FastAPI, client: httpx.AsyncClient, agent: AppUser, db: AsyncSession
) -> None:
    headers = set_now(app, SEPTEMBER_1, agent)
    # Three carriers (one filing in UTC), legs of one to three, October to April: every
    # period crosses the DST changes of New York, Europe or Sydney.
    first = await import_file(client, headers, "".join(season_lines(SeasonSpec())).encode())
    before = await snapshot(db)
    exported = "\n".join(await export(client, headers)) + "\n"

    await wipe(db)
    again = await import_file(client, headers, exported.encode())

    assert again["rejected"] == [] and again["schedules_created"] == first["schedules_created"]
    assert again["flights_created"] == first["flights_created"] > 1000
    after = await snapshot(db)
    assert after[0] == before[0]
    assert after[1] == before[1]


async def test_carrier_and_dates_choose_what_is_exported(
    app: FastAPI, client: httpx.AsyncClient, agent: AppUser
) -> None:
    headers = set_now(app, JUNE_1, agent)
    content = ssim_file(ssim_leg(5, *AMS_LHR, days="135", period=("01JUL26", "31JUL26")))
    await import_file(client, headers, content)
    zx = ssim_file(ssim_leg(7, *AMS_LHR, airline="ZX", period=("01JUL26", "31JUL26")), airline="ZX")
    await import_file(client, headers, zx)

    lines = await export(
        client, headers, carrier="FD", **{"from": "2026-07-08", "to": "2026-07-20"}
    )

    (leg,) = legs_of(lines)
    assert leg[2:9] == "FD 0005" and leg[14:28] == "08JUL2620JUL26" and leg[28:35] == "1 3 5  "
    assert [line[2:5] for line in lines if line[0] == "2"] == ["FD "]


async def test_a_flight_made_on_its_own_is_a_one_day_record(
    app: FastAPI, client: httpx.AsyncClient, agent: AppUser
) -> None:
    headers = set_now(app, JUNE_1, agent)
    flight = {
        "flight_number": "FD900",
        "origin": "JFK",
        "destination": "LHR",
        "departure_time": "2026-07-01T18:30:00-04:00",
        "arrival_time": "2026-07-02T06:30:00+01:00",
        "aircraft": "789",
        "cabins": {"business": {"seats": 20, "fare": {"amount": 1, "currency": "USD"}}},
    }
    assert (await client.post("/flights", json=flight, headers=headers)).status_code == 201

    (leg,) = legs_of(await export(client, headers))

    assert leg[2:9] == "FD 0900" and leg[14:35] == "01JUL2601JUL26  3    "
    assert (leg[36:52], leg[54:70]) == ("JFK18301830-0400", "LHR06300630+0100")
    assert (leg[172:192].strip(), leg[192:194]) == ("J20", "01")


async def test_multi_leg_codeshare_and_restrictions_are_written_as_filed(
    app: FastAPI, client: httpx.AsyncClient, agent: AppUser
) -> None:
    headers = set_now(app, JUNE_1, agent)
    long_configuration = "F8J42W24Y302VVA380PLUSVERSION"
    content = ssim_file(
        ssim_leg(5, *AMS_LHR, days="1", traffic="AK", onward="FD 0642", serial=3),
        ssim_leg(5, *LHR_JFK, days="1", leg_sequence=2, serial=4),
        ssim_segment(5, "AMS", "LHR", 2, "KL", serial=5),
        ssim_segment(5, "LHR", "JFK", 50, "KL 1597", leg_sequence=2, serial=6),
        ssim_segment(5, "LHR", "JFK", 108, long_configuration, leg_sequence=2, serial=7),
    )
    await import_file(client, headers, content)

    lines = await export(client, headers)

    first, second = legs_of(lines)
    assert (first[11:13], second[11:13]) == ("01", "02")
    assert first[149:160].strip() == "AK" and first[137:146] == "FD 0642  "
    assert second[172:192].strip() == ""  # too long for the leg record: data element 108
    segments = {
        (line[30:33], line[33:39], line[39:194].strip()) for line in lines if line[0] == "4"
    }
    assert segments == {
        ("002", "AMSLHR", "KL"),
        ("002", "LHRJFK", "KL"),
        ("050", "LHRJFK", "KL1597"),
        ("108", "LHRJFK", long_configuration),
    }


async def test_export_is_for_staff_and_checks_its_window(
    client: httpx.AsyncClient, agent: AppUser, passenger: AppUser
) -> None:
    assert_error(await client.get("/schedules/export"), 401)
    assert_error(await client.get("/schedules/export", headers=passenger.headers), 403)
    wrong = await client.get(
        "/schedules/export",
        params={"from": "2026-07-02", "to": "2026-07-01"},
        headers=agent.headers,
    )
    assert_error(wrong, 422, "invalid_export_window")
    bad_carrier = await client.get("/schedules/export?carrier=F-", headers=agent.headers)
    assert_error(bad_carrier, 422, "validation_error")


async def test_empty_export_is_still_a_file(client: httpx.AsyncClient, agent: AppUser) -> None:
    lines = await export(client, agent.headers, carrier="QQ")

    assert [line[0] for line in lines if set(line) != {"0"}] == ["1", "2", "5"]
    assert date.today().year >= 2026
