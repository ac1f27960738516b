"""`parse_query` answers exactly as FastAPI's own `Annotated[Model, Query()]`, and
`query_parameters` documents the same parameters: checked side by side on two apps."""

from __future__ import annotations

from typing import Annotated, Any

import httpx
import pytest
from fastapi import FastAPI, Query, Request
from pydantic import BaseModel

from flightdeck.platform.errors import install_error_handlers
from flightdeck.platform.query_models import parse_query, query_parameters
from flightdeck.search.schemas import SearchQuery

ASYNC = pytest.mark.asyncio(loop_scope="session")

QUERIES = [
    "origin=JFK&destination=SFO&date=2027-03-01",
    "origin=jfk&destination=SFO&date=2027-03-01&passengers=2&cabin=business&sort=duration",
    "origin=JFK&destination=SFO&date=2027-03-01&max_stops=0&unknown=1",
    "origin=JFK&origin=LAX&destination=SFO&date=2027-03-01",  # repeated: the last one
    "origin=JFK&destination=JFK&date=2027-03-01",  # the model's own check
    "origin=JFK&destination=SFO",
    "origin=JFK&destination=SFO&date=yesterday&passengers=0&cabin=deck&max_stops=x",
    "origin=JFKX&destination=&date=2027-03-01&passengers=",
    "destination=SFO&date=2027-03-01&sort=",
    "",  # every required field missing, each named
]


def _apps() -> tuple[FastAPI, FastAPI]:
    fastapi_own, ours = FastAPI(), FastAPI()
    for app in (fastapi_own, ours):
        install_error_handlers(app)

    @fastapi_own.get("/search")
    async def search_by_fastapi(query: Annotated[SearchQuery, Query()]) -> dict[str, Any]:
        return query.model_dump(mode="json")

    @ours.get("/search", openapi_extra=query_parameters(SearchQuery))
    async def search_by_model(request: Request) -> dict[str, Any]:
        return parse_query(SearchQuery, request).model_dump(mode="json")

    return fastapi_own, ours


async def _answer(app: FastAPI, query: str) -> tuple[int, Any]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
        response = await client.get(f"/search?{query}")
    return response.status_code, response.json()


@ASYNC
@pytest.mark.parametrize("query", QUERIES)
async def test_answers_as_fastapi_does(query: str) -> None:
    fastapi_own, ours = _apps()
    expected = await _answer(fastapi_own, query)
    assert await _answer(ours, query) == expected
    assert expected[0] in (200, 422)


def test_documents_the_parameters_fastapi_would() -> None:
    fastapi_own, ours = _apps()
    operation = {
        name: app.openapi()["paths"]["/search"]["get"]["parameters"]
        for name, app in (("fastapi", fastapi_own), ("ours", ours))
    }
    assert len(operation["ours"]) == len(SearchQuery.model_fields)
    assert operation["ours"] == operation["fastapi"]


def test_a_model_with_a_nested_field_is_refused() -> None:
    class Inner(BaseModel):
        code: str

    class Nested(BaseModel):
        inner: Inner

    with pytest.raises(TypeError, match="Nested"):
        query_parameters(Nested)
