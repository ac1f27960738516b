"""Seat layouts per aircraft type and `GET /flights/{id}/seats`."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession
from tests.conftest import TestUser as AppUser
from tests.conftest import assert_error
from tests.flights.factories import create_flight, money, sell_seats

from flightdeck.flights.inventory.seat_layouts import (
    CabinLayout,
    cabin_letters,
    normalise_seat,
    seat_cabin,
    seat_map,
)

# Only the HTTP tests are async: the layout tests are plain functions.
on_session_loop = pytest.mark.asyncio(loop_scope="session")


def _row_numbers(layouts: list[CabinLayout]) -> list[int]:
    return [row.number for layout in layouts for row in layout.rows]


# --- layouts (pure) ----------------------------------------------------------------------


@pytest.mark.parametrize("aircraft", ["320", "73H", "77W", "789", "359", "388", "E90", None])
@pytest.mark.parametrize("capacity", [0, 1, 5, 7, 99, 150, 301])
def test_every_cabin_has_exactly_its_capacity_in_seats(aircraft: str | None, capacity: int) -> None:
    layouts = seat_map(aircraft, [("economy", capacity), ("business", capacity // 3 + 1)])

    by_cabin = {layout.cabin: layout for layout in layouts}
    assert len(by_cabin["economy"].seats) == capacity
    assert len(by_cabin["business"].seats) == capacity // 3 + 1
    all_seats = [seat for layout in layouts for seat in layout.seats]
    assert len(all_seats) == len(set(all_seats))


def test_last_row_has_only_the_seats_needed_from_the_first_letters() -> None:
    (economy,) = seat_map("320", [("economy", 14)])

    assert [row.seats for row in economy.rows] == [
        ("1A", "1B", "1C", "1D", "1E", "1F"),
        ("2A", "2B", "2C", "2D", "2E", "2F"),
        ("3A", "3B"),
    ]


def test_row_13_is_skipped() -> None:
    (economy,) = seat_map("320", [("economy", 6 * 14)])

    assert _row_numbers([economy]) == [*range(1, 13), 14, 15]
    assert not any(seat.startswith("13") for seat in economy.seats)
    assert seat_cabin([economy], "13A") is None


def test_cabins_are_numbered_continuously_from_first_to_economy() -> None:
    layouts = seat_map(
        "77W",
        [("economy", 20), ("first", 4), ("premium_economy", 8), ("business", 12)],
    )

    assert [layout.cabin for layout in layouts] == [
        "first",
        "business",
        "premium_economy",
        "economy",
    ]
    assert [[row.number for row in layout.rows] for layout in layouts] == [
        [1, 2],  # AK
        [3, 4],  # ACDGHK
        [5],  # ACDEFGHK
        [6, 7],  # ABCDEFGHJK
    ]
    assert layouts[0].rows[0].seats == ("1A", "1K")


def test_unknown_or_missing_aircraft_gets_the_default_layout() -> None:
    for aircraft in (None, "", "ZZZ", "Concorde"):
        assert cabin_letters(aircraft, "economy") == "ABCDEF"
        assert cabin_letters(aircraft, "business") == "ACDF"


def test_wide_body_letters_skip_i_and_icao_designators_match_iata_codes() -> None:
    assert cabin_letters("77W", "economy") == "ABCDEFGHJK"
    assert cabin_letters("B77W", "economy") == "ABCDEFGHJK"
    assert cabin_letters("388", "first") == "AK"
    assert cabin_letters("b789", "business") == cabin_letters("789", "business") == "AEFK"
    assert cabin_letters("73H", "economy") == cabin_letters("A320", "economy") == "ABCDEF"
    assert all("I" not in cabin_letters("777", cabin) for cabin in ("economy", "business"))


def test_seat_cabin_says_which_cabin_a_seat_is_in() -> None:
    layouts = seat_map("320", [("business", 8), ("economy", 14)])  # rows 1-2, then 3-5

    assert seat_cabin(layouts, "1A") == "business"
    assert seat_cabin(layouts, "2f") == "business"
    assert seat_cabin(layouts, "1B") is None  # business is ACDF
    assert seat_cabin(layouts, " 3b ") == "economy"
    assert seat_cabin(layouts, "5B") == "economy"
    assert seat_cabin(layouts, "5C") is None  # last row has two seats
    assert seat_cabin(layouts, "6A") is None
    for nonsense in ("", "A1", "0A", "12", "12AB", "1234A"):
        assert seat_cabin(layouts, nonsense) is None
    assert normalise_seat(" 12a") == "12A"


# --- GET /flights/{id}/seats -------------------------------------------------------------


@on_session_loop
async def test_seat_map_lists_each_cabin_front_to_back_all_available(
    client: httpx.AsyncClient, agent: AppUser
) -> None:
    flight = await create_flight(client, agent.headers, aircraft="B789")

    response = await client.get(f"/flights/{flight['id']}/seats")

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["flight_id"] == flight["id"]
    assert body["flight_number"] == "FD101"
    assert body["aircraft"] == "B789"
    business, economy = body["cabins"]
    assert business["cabin"] == "business"
    assert business["letters"] == ["A", "E", "F", "K"]
    assert [row["row"] for row in business["rows"]] == [1, 2, 3, 4, 5]
    assert business["rows"][0]["seats"][0] == {"seat": "1A", "available": True}
    assert economy["cabin"] == "economy"
    assert economy["rows"][0]["row"] == 6
    assert 13 not in [row["row"] for row in economy["rows"]]
    economy_seats = [seat for row in economy["rows"] for seat in row["seats"]]
    assert len(economy_seats) == economy["seats_total"] == economy["seats_available"] == 150
    assert all(seat["available"] for seat in economy_seats)


@on_session_loop
async def test_seats_sold_without_a_chosen_seat_lower_availability_but_take_no_seat(
    client: httpx.AsyncClient, agent: AppUser, db: AsyncSession
) -> None:
    flight = await create_flight(
        client, agent.headers, cabins={"economy": {"seats": 30, "fare": money(9900)}}
    )
    await sell_seats(db, flight["id"], "economy", 10)

    response = await client.get(f"/flights/{flight['id']}/seats")

    (economy,) = response.json()["cabins"]
    assert economy["seats_total"] == 30
    assert economy["seats_available"] == 20
    assert all(seat["available"] for row in economy["rows"] for seat in row["seats"])


@on_session_loop
async def test_seat_map_of_an_unknown_flight_is_404(client: httpx.AsyncClient) -> None:
    response = await client.get("/flights/no-such-flight/seats")

    assert_error(response, 404, "flight_not_found")
