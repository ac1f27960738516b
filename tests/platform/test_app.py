"""The app shell: operations endpoints, the OpenAPI contract, the one error shape."""

from __future__ import annotations

import gc

import httpx
import pytest
from asgi_lifespan import LifespanManager
from prometheus_client import REGISTRY
from tests.conftest import assert_error

from flightdeck.app import create_app
from flightdeck.platform.lifespan import YOUNG_COLLECTION_THRESHOLD
from flightdeck.platform.settings import Settings

pytestmark = pytest.mark.asyncio(loop_scope="session")

# Every path of API.md that the foundation serves (later issues extend this list).
CONTRACT_PATHS = {
    "/register": {"post"},
    "/login": {"post"},
    "/login/refresh": {"post"},
    "/profile": {"get", "patch"},
    "/flights": {"get", "post"},
    "/flights/{flight_id}": {"get", "put", "delete"},
    "/flights/{flight_id}/status": {"get", "put"},
    "/schedules": {"get", "post"},
    "/schedules/{schedule_id}": {"get", "put", "delete"},
    "/schedules/import": {"post"},
    "/airports": {"get"},
    "/healthz": {"get"},
    "/readyz": {"get"},
    "/metrics": {"get"},
    "/admin/flights": {"get"},
    "/admin/bookings": {"get"},
    "/admin/reports": {"get"},
    "/admin/users": {"get"},
    "/admin/users/{user_id}": {"patch"},
    "/admin/audit": {"get"},
}


async def test_openapi_lists_every_contract_endpoint(client: httpx.AsyncClient) -> None:
    paths = (await client.get("/openapi.json")).json()["paths"]
    for path, methods in CONTRACT_PATHS.items():
        assert path in paths, f"{path} missing from OpenAPI"
        assert methods <= set(paths[path]), f"{path}: {methods - set(paths[path])} missing"


async def test_docs_page_is_served(client: httpx.AsyncClient) -> None:
    response = await client.get("/docs")
    assert response.status_code == 200
    assert "swagger" in response.text.lower()


async def test_healthz_and_readyz_report_ok(client: httpx.AsyncClient) -> None:
    # /healthz also says which services this process runs (all of them here).
    assert (await client.get("/healthz")).json() == {
        "status": "ok",
        "services": [
            "users",
            "flights",
            "search",
            "bookings",
            "payments",
            "notifications",
            "admin",
            "ui",
        ],
    }
    ready = await client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"]["database"] == "ok"


async def test_metrics_count_requests_by_route_template(client: httpx.AsyncClient) -> None:
    await client.get("/healthz")
    body = (await client.get("/metrics")).text
    assert 'flightdeck_http_requests_total{method="GET",route="/healthz",status="200"}' in body


async def test_each_request_is_counted_and_timed_under_its_labels(
    client: httpx.AsyncClient,
) -> None:
    """Every request lands in its label set's counter and histogram, the first of a label
    set and the ones after it (whose children the middleware has found before), and a
    status is its own label set."""
    ok = {"method": "GET", "route": "/healthz", "status": "200"}
    refused = {"method": "PATCH", "route": "/healthz", "status": "405"}
    timed = {"method": "GET", "route": "/healthz"}
    before = [_sample("flightdeck_http_requests_total", ok)]
    before += [_sample("flightdeck_http_requests_total", refused)]
    before += [_sample("flightdeck_http_request_seconds_count", timed)]
    for _ in range(3):
        assert (await client.get("/healthz")).status_code == 200
    assert (await client.patch("/healthz")).status_code == 405
    after = [_sample("flightdeck_http_requests_total", ok)]
    after += [_sample("flightdeck_http_requests_total", refused)]
    after += [_sample("flightdeck_http_request_seconds_count", timed)]
    assert [a - b for a, b in zip(after, before, strict=True)] == [3, 1, 3]


def _sample(name: str, labels: dict[str, str]) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_unknown_path_is_404_in_the_error_shape(client: httpx.AsyncClient) -> None:
    assert_error(await client.get("/no-such-thing"), 404, "not_found")


async def test_wrong_method_is_405_in_the_error_shape(client: httpx.AsyncClient) -> None:
    assert_error(await client.patch("/healthz"), 405, "method_not_allowed")


async def test_malformed_json_is_422_in_the_error_shape(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/register", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    error = assert_error(response, 422, "validation_error")
    assert error["details"]["errors"]


async def test_fastapi_opentelemetry_is_off_unless_asked(settings: Settings) -> None:
    off = create_app(settings)
    on = create_app(settings.model_copy(update={"opentelemetry": True}))
    signals = ("tracing", "metrics", "logs")
    # FastAPI keeps its configuration private; these are the switches it reads per request.
    assert [off._telemetry[s] for s in signals] == [False, False, False]  # type: ignore[attr-defined]
    assert [on._telemetry[s] for s in signals] == [True, True, True]  # type: ignore[attr-defined]


async def test_the_heap_startup_built_is_frozen_for_the_collector_until_shutdown(
    settings: Settings,
) -> None:
    gc.unfreeze()  # the suite's session app froze its own startup heap
    suite_thresholds = gc.get_threshold()  # and raised the youngest generation's threshold
    thresholds = (700, 10, 10)  # Python's own
    gc.set_threshold(*thresholds)
    try:
        app = create_app(settings)
        async with LifespanManager(app):
            frozen = gc.get_freeze_count()
            assert frozen > 10_000  # modules, routes, schemas, the airports
            # A full collection no longer walks what startup built.
            assert not any(obj is app.router for obj in gc.get_objects(generation=2))
            # The youngest generation is collected less often while the server serves.
            assert gc.get_threshold() == (YOUNG_COLLECTION_THRESHOLD, *thresholds[1:])
        assert gc.get_freeze_count() == 0
        assert gc.get_threshold() == thresholds
    finally:
        gc.set_threshold(*suite_thresholds)
    assert any(obj is app.router for obj in gc.get_objects(generation=2))
