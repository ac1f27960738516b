"""HTTP endpoint of itinerary search."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Response

from flightdeck.flights.errors import UnknownAirport
from flightdeck.platform.errors import TooManyRequests, error_responses
from flightdeck.platform.http_limits import rate_limit
from flightdeck.platform.query_models import query_model, query_parameters
from flightdeck.platform.replica import ReadDb
from flightdeck.platform.settings import AppSettings
from flightdeck.search import service
from flightdeck.search.schemas import SearchQuery, SearchResults

router = APIRouter(tags=["search"])


@router.get(
    "/search",
    response_model=SearchResults,
    responses=error_responses(UnknownAirport, 422, TooManyRequests),
    dependencies=[rate_limit("search")],
    openapi_extra=query_parameters(SearchQuery),
)
async def search(
    query: Annotated[SearchQuery, query_model(SearchQuery)], reads: ReadDb, settings: AppSettings
) -> Response:
    """Direct flights and one-stop connections on the local date at the origin, with seats
    for every passenger; prices are for all of them. Each flight carries its flight number's
    punctuality over the last 30 days. Read from the replica when there is one."""
    document = await service.search_itineraries_json(reads, query, settings)
    return Response(content=document, media_type="application/json")
