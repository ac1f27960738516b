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


async def metrics_middleware(
    request: Request, call_next: Callable[[Request], Awaitable[Response]]
) -> Response:
    started = time.perf_counter()
    response = await call_next(request)
    route = request.scope.get("route")
    # The route template, not the raw path, so ids do not explode the label set.
    template = getattr(route, "path", "unmatched")
    LATENCY.labels(request.method, template).observe(time.perf_counter() - started)
    REQUESTS.labels(request.method, template, str(response.status_code)).inc()
    return response
