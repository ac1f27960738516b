"""Cached searches answered before routing.

A search the cache can answer needs no route: on a hit `SearchCacheEdge` sends the cached
document itself, inside the platform's middleware (the request context, metrics, the general
rate limits and their headers all apply) but before FastAPI matches a route, solves its
dependencies and runs its exception handling. That machinery was most of a cached search's
CPU, and a cache hit is what most searches are under load.

Everything else goes on to the route, which answers exactly as it would alone: a query that
does not validate, an unknown airport, a request past the search limit (counted once: the
route's `rate_limit("search")` answers the 429 from the same count), a cache miss (the route
reads the database without looking in the cache again), and the cache turned off.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from starlette.types import ASGIApp, Receive, Scope, Send

from flightdeck.platform.http_limits import within_route_limit
from flightdeck.platform.query_models import parse_query
from flightdeck.platform.settings import app_settings
from flightdeck.search import service
from flightdeck.search.router import LOOKED_UP, ROUTE_LIMIT, SEARCH_ANSWERS, router
from flightdeck.search.schemas import SearchQuery

_EDGE_ANSWERS = SEARCH_ANSWERS.labels("edge")

_ROUTE: Any = next(route for route in router.routes if getattr(route, "path", "") == "/search")


class SearchCacheEdge:
    """Answers `GET /search` from the cache when it can; passes everything else on."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "GET" or _route_path(scope) != _ROUTE.path:
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive)
        settings = app_settings(request)
        if settings.search_cache_seconds <= 0:
            await self.app(scope, receive, send)
            return
        try:
            query = parse_query(SearchQuery, request)
        except RequestValidationError:
            await self.app(scope, receive, send)  # the route answers the 422
            return
        looked_up = await service.cached_search_json(query, settings)
        if looked_up.document is None or not await within_route_limit(ROUTE_LIMIT, request):
            setattr(request.state, LOOKED_UP, looked_up)
            await self.app(scope, receive, send)
            return
        _EDGE_ANSWERS.inc()
        scope["route"] = _ROUTE  # what routing would have set (metrics label it /search)
        response = Response(content=looked_up.document, media_type="application/json")
        await response(scope, receive, send)


def _route_path(scope: Scope) -> str:
    """The path routing matches: without the server's `root_path` (as Starlette's router)."""
    path: str = scope["path"]
    root_path: str = scope.get("root_path", "")
    if root_path and path.startswith(root_path + "/"):
        return path[len(root_path) :]
    return path
