"""Bookings on multi-leg flights: a through journey holds seats on every leg it flies (no
minimum connection time between a flight's own legs), and SSIM traffic restrictions and
service types decide what may be sold."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.bookings.factories import booking_body, seats_available
from tests.conftest import TestUser as AppUser
from tests.conftest import assert_error
from tests.flights.schedule_factories import set_now, ssim_file, ssim_leg, utc

pytestmark = pytest.mark.asyncio(loop_scope="session")

JUNE_1 = utc(2026, 6, 1)
# Leg 2 leaves LHR 20 minutes after leg 1 lands: far less than any connection time.
AMS_LHR = ("AMS", "0700", "+0200", "LHR", "0715", "+0100")
LHR_JFK = ("LHR", "0735", "+0100", "JFK", "1005", "-0400")
JFK_BOS = ("JFK", "1300", "-0400", "BOS", "1415", "-0400")


async def load(
    app: FastAPI, client: httpx.AsyncClient, agent: AppUser, *legs: str
) -> dict[tuple[str, int], dict[str, Any]]:
    """Imports the legs (Mondays 8-28 June 2026) and returns 8 June's flights by (number,
    leg sequence)."""
    headers = set_now(app, JUNE_1, agent)
    response = await client.post(
        "/schedules/import",
        files={"file": ("s.ssim", ssim_file(*legs), "application/octet-stream")},
        headers=headers,
    )
    assert response.status_code == 201, response.text
    assert response.json()["rejected"] == []
    listed = (await client.get("/flights?date=2026-06-08&limit=100")).json()["items"]
    return {(f["flight_number"], f["leg_sequence"]): f for f in listed}


async def book(
    app: FastAPI, client: httpx.AsyncClient, passenger: AppUser, *flights: dict[str, Any]
) -> httpx.Response:
    headers = set_now(app, JUNE_1, passenger)
    return await client.post(
        "/bookings", json=booking_body([f["id"] for f in flights], 2), headers=headers
    )


async def test_a_through_journey_holds_seats_on_both_legs_without_a_connection_time(
    app: FastAPI, client: httpx.AsyncClient, agent: AppUser, passenger: AppUser
) -> None:
    flights = await load(
        app,
        client,
        agent,
        ssim_leg(5, *AMS_LHR, days="1", configuration="Y100", serial=3),
        ssim_leg(5, *LHR_JFK, days="1", leg_sequence=2, configuration="Y100", serial=4),
    )
    first, second = flights[("FD5", 1)], flights[("FD5", 2)]

    response = await book(app, client, passenger, first, second)

    assert response.status_code == 201, response.text
    segments = response.json()["segments"]
    assert [(s["origin"], s["destination"]) for s in segments] == [("AMS", "LHR"), ("LHR", "JFK")]
    assert await seats_available(client, first["id"]) == 98
    assert await seats_available(client, second["id"]) == 98


async def test_a_leg_with_no_local_traffic_is_sold_only_through(
    app: FastAPI, client: httpx.AsyncClient, agent: AppUser, passenger: AppUser
) -> None:
    # "A" at position 1: AMS-LHR alone carries no local traffic; AMS-JFK (position 2) does.
    flights = await load(
        app,
        client,
        agent,
        ssim_leg(5, *AMS_LHR, days="1", traffic="A", serial=3),
        ssim_leg(5, *LHR_JFK, days="1", leg_sequence=2, serial=4),
    )
    first, second = flights[("FD5", 1)], flights[("FD5", 2)]

    alone = await book(app, client, passenger, first)

    error = assert_error(alone, 422, "traffic_restricted")
    assert "FD5 AMS-LHR is not sold" in str(error["message"])
    assert await seats_available(client, first["id"]) == 150
    assert (await book(app, client, passenger, first, second)).status_code == 201
    assert (await book(app, client, passenger, second)).status_code == 201


async def test_connecting_only_and_local_only_legs(
    app: FastAPI, client: httpx.AsyncClient, agent: AppUser, passenger: AppUser
) -> None:
    flights = await load(
        app,
        client,
        agent,
        ssim_leg(7, *LHR_JFK, days="1", traffic="K", serial=3),  # connecting traffic only
        ssim_leg(8, *JFK_BOS, days="1", traffic="B", serial=4),  # local traffic only
        ssim_leg(9, *JFK_BOS, days="1", serial=5),
    )
    connecting_only, local_only, free = (flights[(n, 1)] for n in ("FD7", "FD8", "FD9"))

    assert_error(await book(app, client, passenger, connecting_only), 422, "traffic_restricted")
    assert (await book(app, client, passenger, connecting_only, free)).status_code == 201
    assert_error(
        await book(app, client, passenger, connecting_only, local_only), 422, "traffic_restricted"
    )
    assert (await book(app, client, passenger, local_only)).status_code == 201


async def test_cargo_and_charter_services_are_not_sold(
    app: FastAPI, client: httpx.AsyncClient, agent: AppUser, passenger: AppUser
) -> None:
    flights = await load(
        app,
        client,
        agent,
        ssim_leg(7, *AMS_LHR, days="1", service_type="C", configuration="Y180", serial=3),
    )

    response = await book(app, client, passenger, flights[("FD7", 1)])

    error = assert_error(response, 409, "flight_not_bookable")
    assert "service type C" in str(error["message"])
