"""HTTP endpoint of itinerary search."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from flightdeck.flights.errors import UnknownAirport
from flightdeck.platform.db import DbEngine
from flightdeck.platform.errors import TooManyRequests, error_responses
from flightdeck.platform.http_limits import rate_limit
from flightdeck.platform.settings import AppSettings
from flightdeck.search import service
from flightdeck.search.schemas import SearchQuery, SearchResults

router = APIRouter(tags=["search"])


@router.get(
    "/search",
    response_model=SearchResults,
    responses=error_responses(UnknownAirport, 422, TooManyRequests),
    dependencies=[rate_limit("search")],
)
async def search(
    query: Annotated[SearchQuery, Query()], engine: DbEngine, settings: AppSettings
) -> Response:
    """Direct flights and one-stop connections on the local date at the origin, with seats
    for every passenger; prices are for all of them. Each flight carries its flight number's
    punctuality over the last 30 days."""
    document = await service.search_itineraries_json(engine, query, settings)
    return Response(content=document, media_type="application/json")
