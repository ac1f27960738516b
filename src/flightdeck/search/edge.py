"""Searches answered before routing.

A search that validates needs no route: `SearchEdge` sends its document itself, from the
cache or read from the database, inside the platform's middleware (the request context,
metrics, the general rate limits and their headers all apply) but before FastAPI matches a
route, solves its dependencies and runs its exception handling. That machinery was most of a
cached search's CPU and a fifth of an uncached direct one's.

Everything else goes on to the route, which answers exactly as it would alone: a query that
does not validate, an unknown airport, a request past the search limit (counted once: the
route's `rate_limit("search")` answers the 429 from the same count), and a read that failed
(the route raises the edge's exception, so the app's handlers answer it in the one error
shape; it is not read again).
"""

from __future__ import annotations

from typing import Any

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from starlette.types import ASGIApp, Receive, Scope, Send

from flightdeck.flights.airports import find_airport
from flightdeck.platform.edge import route_path
from flightdeck.platform.http_limits import within_route_limit
from flightdeck.platform.query_models import parse_query
from flightdeck.platform.replica import app_reads
from flightdeck.platform.settings import app_settings
from flightdeck.search import service
from flightdeck.search.router import EDGE_FAILURE, LOOKED_UP, ROUTE_LIMIT, SEARCH_ANSWERS, router
from flightdeck.search.schemas import SearchQuery

_FROM_CACHE = SEARCH_ANSWERS.labels("cache")
_FROM_DATABASE = SEARCH_ANSWERS.labels("database")

_ROUTE: Any = next(route for route in router.routes if getattr(route, "path", "") == "/search")


class SearchEdge:
    """Answers `GET /search` before routing when it can; passes everything else on."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "GET" or route_path(scope) != _ROUTE.path:
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive)
        settings = app_settings(request)
        try:
            query = parse_query(SearchQuery, request)
        except RequestValidationError:
            await self.app(scope, receive, send)  # the route answers the 422
            return
        if find_airport(query.origin) is None or find_airport(query.destination) is None:
            await self.app(scope, receive, send)  # the route answers the 422
            return
        looked_up = await service.cached_search_json(query, settings)
        setattr(request.state, LOOKED_UP, looked_up)
        if not await within_route_limit(ROUTE_LIMIT, request):
            await self.app(scope, receive, send)  # the route answers the 429
            return
        if looked_up.document is not None:
            document, answers = looked_up.document, _FROM_CACHE
        else:
            try:
                document = await service.search_itineraries_json(
                    app_reads(request), query, settings, looked_up
                )
            except Exception as exc:  # the route raises it: the app's handlers answer it
                setattr(request.state, EDGE_FAILURE, exc)
                await self.app(scope, receive, send)
                return
            answers = _FROM_DATABASE
        answers.inc()
        scope["route"] = _ROUTE  # what routing would have set (metrics label it /search)
        response = Response(content=document, media_type="application/json")
        await response(scope, receive, send)
