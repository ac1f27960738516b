"""Health, readiness and Prometheus metrics."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Literal

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


@router.get(
    "/readyz",
    summary="Readiness of each dependency",
    response_model=Readiness,
    responses={503: {"model": Readiness, "description": "A dependency is not ready"}},
)
async def readyz(request: Request) -> JSONResponse:
    """Runs every check the app registered (`app.state.readiness_checks`, name → coroutine)."""
    registered: dict[str, ReadinessCheck] = getattr(request.app.state, "readiness_checks", {})
    checks: dict[str, str] = {}
    for name, check in registered.items():
        try:
            await asyncio.wait_for(check(), timeout=READINESS_TIMEOUT_SECONDS)
            checks[name] = "ok"
        except Exception as exc:  # readiness reports the failure instead of raising it
            checks[name] = f"error: {type(exc).__name__}"
    ready = all(v == "ok" for v in checks.values())
    return JSONResponse(
        {"status": "ok" if ready else "unavailable", "checks": checks},
        status_code=200 if ready else 503,
    )


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=PlainTextResponse,
    responses={200: {"description": "The Prometheus text exposition format"}},
)
async def metrics() -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


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
            method = scope["method"]
            LATENCY.labels(method, template).observe(time.perf_counter() - started)
            REQUESTS.labels(method, template, str(status)).inc()
