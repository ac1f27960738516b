"""Health, readiness and Prometheus metrics."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any, Literal

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest
from pydantic import BaseModel, Field
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.types import ASGIApp, Message, Receive, Scope, Send

REQUESTS = Counter("flightdeck_http_requests_total", "HTTP requests", ["method", "route", "status"])
LATENCY = Histogram("flightdeck_http_request_seconds", "HTTP request latency", ["method", "route"])

router = APIRouter(tags=["operations"])

READINESS_TIMEOUT_SECONDS = 2.0


@router.get("/healthz", summary="Liveness, and the services this process runs")
async def healthz(request: Request) -> dict[str, object]:
    wiring = getattr(request.app.state, "wiring", None)
    return {"status": "ok", "services": list(wiring.services) if wiring is not None else []}


ReadinessCheck = Callable[[], Awaitable[object]]


def database_check(engine: AsyncEngine) -> ReadinessCheck:
    async def check() -> None:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    return check


class Readiness(BaseModel):
    status: Literal["ok", "unavailable"]
    checks: dict[str, str] = Field(description="`ok`, or `error: <exception type>`, per check")
    degraded: dict[str, str] = Field(
        default_factory=dict,
        description="What the process copes without (Redis, the read replica) and is down now",
    )


async def _run_checks(checks: dict[str, ReadinessCheck]) -> dict[str, str]:
    results: dict[str, str] = {}
    for name, check in checks.items():
        try:
            await asyncio.wait_for(check(), timeout=READINESS_TIMEOUT_SECONDS)
            results[name] = "ok"
        except Exception as exc:  # readiness reports the failure instead of raising it
            results[name] = f"error: {type(exc).__name__}"
    return results


@router.get(
    "/readyz",
    summary="Readiness of each dependency",
    response_model=Readiness,
    responses={503: {"model": Readiness, "description": "A dependency is not ready"}},
)
async def readyz(request: Request) -> JSONResponse:
    """Ready = every dependency this process cannot serve without answers
    (`app.state.readiness_checks`: the database, a MongoDB booking store). What it copes
    without (`app.state.optional_checks`: Redis, the read replica) is reported under
    `degraded` when down, and does not take the instance out of its load balancer: a Redis
    outage must not empty every service at once."""
    state = request.app.state
    checks = await _run_checks(getattr(state, "readiness_checks", {}))
    optional = await _run_checks(getattr(state, "optional_checks", {}))
    ready = all(v == "ok" for v in checks.values())
    body: dict[str, object] = {"status": "ok" if ready else "unavailable", "checks": checks}
    body["degraded"] = {name: result for name, result in optional.items() if result != "ok"}
    return JSONResponse(body, status_code=200 if ready else 503)


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=PlainTextResponse,
    responses={200: {"description": "The Prometheus text exposition format"}},
)
async def metrics() -> Response:
    # Rendering walks every label set of every metric (it took about 600 ms under fuzzing): in
    # a worker thread, so the event loop keeps serving requests meanwhile. prometheus_client
    # locks each metric while it is read.
    body = await asyncio.to_thread(generate_latest)
    return Response(body, media_type=CONTENT_TYPE_LATEST)


class MetricsMiddleware:
    """Counts and times every HTTP request by method, route template and status.

    A plain ASGI middleware (not `BaseHTTPMiddleware`, which runs each request through an
    extra task and memory streams): it only watches the response's start message.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the server answers when the app fails before responding

        async def send_and_watch(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_watch)
        finally:
            # The route template, not the raw path, so ids do not explode the label set.
            template = getattr(scope.get("route"), "path", "unmatched")
            latency, requests = _children(scope["method"], template, status)
            latency.observe(time.perf_counter() - started)
            requests.inc()


# Each label set's children, found once: `labels()` checks and looks up its values on every
# call (~4 of a request's ~7 µs in metrics). Bounded as the metrics' own label sets are (the
# methods the HTTP parser knows, the route templates, the statuses answered).
_CHILDREN: dict[tuple[str, str, int], tuple[Any, Any]] = {}


def _children(method: str, template: str, status: int) -> tuple[Any, Any]:
    """The latency histogram's and the request counter's children for these labels."""
    key = (method, template, status)
    found = _CHILDREN.get(key)
    if found is None:
        found = (LATENCY.labels(method, template), REQUESTS.labels(method, template, str(status)))
        _CHILDREN[key] = found
    return found
