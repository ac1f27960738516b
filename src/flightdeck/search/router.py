"""HTTP endpoint of itinerary search."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from prometheus_client import Counter

from flightdeck.flights.errors import UnknownAirport
from flightdeck.platform.errors import TooManyRequests, error_responses
from flightdeck.platform.http_limits import check_route_limit_name, enforce_route_limit
from flightdeck.platform.query_models import parse_query, query_parameters
from flightdeck.platform.replica import app_reads
from flightdeck.platform.settings import app_settings
from flightdeck.search import service
from flightdeck.search.schemas import SearchQuery, SearchResults

router = APIRouter(tags=["search"])

ROUTE_LIMIT = check_route_limit_name("search")
SEARCH_ANSWERS = Counter(
    "flightdeck_search_answers_total",
    "Searches answered, by source: the cache or the database, before routing (search/edge.py), "
    "or the route (what the edge passed on)",
    ["source"],
)
_ROUTE_ANSWERS = SEARCH_ANSWERS.labels("route")
# Request state: what the edge found in the cache for this request (the route does not look
# again), and the exception its read raised (the route raises it: the app's handlers answer).
LOOKED_UP = "search_looked_up"
EDGE_FAILURE = "search_edge_failure"


@router.get(
    "/search",
    response_model=SearchResults,
    responses=error_responses(UnknownAirport, 422, TooManyRequests),
    openapi_extra=query_parameters(SearchQuery),
)
async def search(request: Request) -> Response:
    """Direct flights and one-stop connections on the local date at the origin, with seats
    for every passenger; prices are for all of them. Each flight carries its flight number's
    punctuality over the last 30 days. Read from the replica when there is one."""
    # The busiest route takes no FastAPI dependencies: solving them (a rate limit, the query,
    # the replica, the settings) was a third of a cached search's CPU. The same steps, in
    # the order FastAPI ran them.
    await enforce_route_limit(ROUTE_LIMIT, request)
    query = parse_query(SearchQuery, request)
    failure: Exception | None = getattr(request.state, EDGE_FAILURE, None)
    if failure is not None:
        raise failure
    document = await service.search_itineraries_json(
        app_reads(request), query, app_settings(request), getattr(request.state, LOOKED_UP, None)
    )
    _ROUTE_ANSWERS.inc()
    return Response(content=document, media_type="application/json")
