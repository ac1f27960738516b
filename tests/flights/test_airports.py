"""`GET /airports`: IATA airports with city, country and IANA time zone."""

from __future__ import annotations

import httpx
import pytest
from tests.conftest import assert_error

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_airport_code_finds_the_airport_first_with_its_time_zone(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/airports", params={"q": "jfk"})

    assert response.status_code == 200
    first = response.json()[0]
    assert first == {
        "iata": "JFK",
        "icao": "KJFK",
        "name": first["name"],
        "city": "New York",
        "country": "US",
        "timezone": "America/New_York",
    }
    assert "Kennedy" in first["name"]


async def test_city_search_lists_the_citys_airports(client: httpx.AsyncClient) -> None:
    response = await client.get("/airports", params={"q": "London", "limit": 50})

    codes = {airport["iata"] for airport in response.json()}
    assert {"LHR", "LGW", "LCY"} <= codes


async def test_limit_is_capped_at_50(client: httpx.AsyncClient) -> None:
    response = await client.get("/airports", params={"limit": 500})

    assert response.status_code == 200
    assert len(response.json()) == 50


async def test_limit_is_honoured(client: httpx.AsyncClient) -> None:
    assert len((await client.get("/airports", params={"q": "a", "limit": 3})).json()) == 3


async def test_no_match_is_an_empty_list(client: httpx.AsyncClient) -> None:
    response = await client.get("/airports", params={"q": "zzzzzzzz"})

    assert response.status_code == 200
    assert response.json() == []


@pytest.mark.parametrize("params", [{"limit": 0}, {"q": "x" * 65}])
async def test_bad_airport_query_is_422(
    client: httpx.AsyncClient, params: dict[str, str | int]
) -> None:
    assert_error(await client.get("/airports", params=params), 422, "validation_error")
