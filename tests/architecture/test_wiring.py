"""Everything a running server does comes from a domain module (flightdeck/modules.py)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from starlette.routing import Mount, Route
from typer.testing import CliRunner

from flightdeck.app import create_app
from flightdeck.cli import app as cli
from flightdeck.modules import MODULES, SERVICES, UnknownService, select_modules
from flightdeck.platform.events.inprocess import InProcessBus
from flightdeck.platform.settings import Settings

ASYNC = pytest.mark.asyncio(loop_scope="session")

FASTAPI_OWN = {"/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"}


def _declared_routers(services: list[str] | None = None) -> set[int]:
    return {id(router) for module in select_modules(services) for router in module.routers}


def _app_routers(app: FastAPI) -> set[int]:
    """The routers whose routes the app serves (every route of each); fails on a route or
    mount added by hand."""
    owners = {
        id(route): router
        for module in MODULES
        for router in module.routers
        for route in router.routes
    }
    served: dict[int, list[object]] = {}
    mounts = [path.rstrip("/") for m in MODULES for path, _ in m.mounts]
    for route in app.routes:
        router = owners.get(id(route))
        if router is not None:
            served.setdefault(id(router), []).append(route)
        elif isinstance(route, Mount):
            assert route.path in mounts, route
        else:
            assert isinstance(route, Route) and route.path in FASTAPI_OWN, route
    for module in MODULES:
        for router in module.routers:
            if id(router) in served:
                assert served[id(router)] == list(router.routes), router  # all, in order
    return set(served)


def _started_by(task: asyncio.Task[object], *packages: str) -> bool:
    code = getattr(task.get_coro(), "cr_code", None)
    return code is not None and any(f"/{p}/" in code.co_filename for p in packages)


def _worker_settings(settings: Settings) -> Settings:
    # Every worker on: sweeper, reconciler, refund worker, relay, hub heartbeat.
    return settings.model_copy(update={"hold_sweep_seconds": 30, "payment_reconcile_seconds": 30})


@ASYNC
async def test_every_route_subscription_and_worker_comes_from_a_module(
    settings: Settings,
) -> None:
    app = create_app(_worker_settings(settings))
    assert _app_routers(app) == _declared_routers()
    before = asyncio.all_tasks()
    async with LifespanManager(app):
        wiring = app.state.wiring
        declared_subscriptions = {
            m.name: [s.name for s in m.subscriptions] for m in MODULES if m.subscriptions
        }
        assert wiring.subscriptions == declared_subscriptions
        bus = app.state.bus
        assert isinstance(bus, InProcessBus)
        subscribed = sum(len(g.subscriptions) for g in bus._groups.values())
        assert subscribed == sum(len(names) for names in declared_subscriptions.values())
        workers = {name for names in wiring.workers.values() for name in names}
        assert workers == {
            "outbox-relay",
            "status-feed-consumer",
            "hold-sweeper",
            "payment-reconciler",
            "refund-worker",
            "ws-hub",
        } - {"status-feed-consumer"}  # Kafka only
        started = {
            t.get_name()
            for t in asyncio.all_tasks() - before
            # Not the test's lifespan driver, nor Flet's session manager (the ui module's
            # resource starts it: its session eviction loops are Flet's own), nor SQLAlchemy's
            # closing of an AsyncSession, which runs in a task of its own when any session of
            # any app in this loop leaves its `async with`.
            if not _started_by(t, "asgi_lifespan", "flet_web", "sqlalchemy")
        }
        # Long-lived tasks the lifespan started: the workers and the bus's own lanes. Other
        # apps of the session share this loop: their short-lived work (named after its owner,
        # "<worker>.<step>" or "cache.<step>") may start meanwhile; an unnamed task may not.
        owners = workers | {"lifespan", "cache"}
        strays = {
            n for n in started if not n.startswith("bus-") and n.split(".", 1)[0] not in owners
        }
        assert strays == set(), [
            (t.get_name(), t.get_coro()) for t in asyncio.all_tasks() if t.get_name() in strays
        ]
        worker_tasks = [t for t in asyncio.all_tasks() - before if t.get_name() in workers]
    assert worker_tasks and all(task.done() for task in worker_tasks)


@ASYNC
async def test_stopping_the_app_stops_every_worker_within_a_second(settings: Settings) -> None:
    app = create_app(_worker_settings(settings))
    others = asyncio.all_tasks()  # other apps of the session run workers of the same names
    async with LifespanManager(app):
        workers = dict(app.state.workers)
        tasks = [t for t in asyncio.all_tasks() - others if t.get_name() in workers]
        assert len(tasks) == len(workers) >= 5
        for worker in workers.values():
            async with asyncio.timeout(1.0):  # the lifespan's shutdown stops them this way
                await worker.stop()
        assert all(task.done() for task in tasks)


@ASYNC
async def test_a_server_with_some_services_runs_only_theirs(settings: Settings) -> None:
    app = create_app(_worker_settings(settings), services=["flights", "search"])
    assert _app_routers(app) == _declared_routers(["flights", "search"])
    paths = set(app.openapi()["paths"])
    assert "/search" in paths and "/bookings" not in paths and "/healthz" in paths
    async with LifespanManager(app):
        assert app.state.wiring.services == ["flights", "search"]
        assert set(app.state.workers) == {"outbox-relay"}


@ASYNC
async def test_the_services_setting_picks_them_for_uvicorns_factory(settings: Settings) -> None:
    app = create_app(_worker_settings(settings).model_copy(update={"services": "bookings, users"}))
    async with LifespanManager(app):
        assert app.state.wiring.services == ["users", "bookings"]
        assert "hold-sweeper" in app.state.workers


@ASYNC
async def test_the_app_alone_needs_the_address_of_the_api(settings: Settings) -> None:
    alone = create_app(_worker_settings(settings), services=["ui"])
    with pytest.raises(RuntimeError, match="FLIGHTDECK_UI_API_URL"):
        async with LifespanManager(alone):
            pass
    pointed = _worker_settings(settings).model_copy(update={"ui_api_url": "http://gateway:8080"})
    app = create_app(pointed, services=["ui"])
    async with LifespanManager(app):
        assert app.state.wiring.services == ["ui"]


def test_serve_refuses_an_unknown_service_by_name() -> None:
    result = CliRunner().invoke(cli, ["serve", "--services", "flights,bookngs"])
    assert result.exit_code == 2
    assert "bookngs" in result.output


def test_an_unknown_service_is_refused_by_name() -> None:
    with pytest.raises(UnknownService, match="bookngs"):
        select_modules(["bookngs"])
    assert SERVICES == (
        "users",
        "flights",
        "search",
        "bookings",
        "payments",
        "notifications",
        "admin",
        "ui",
    )


def test_create_app_registers_nothing_by_hand() -> None:
    source = (Path(__file__).resolve().parents[2] / "src/flightdeck/app.py").read_text()
    for by_hand in ("include_router(", "subscribe(", "create_task(", ".start()"):
        assert source.count(by_hand) <= (1 if by_hand == "include_router(" else 0), by_hand


def test_create_app_is_a_short_composition() -> None:
    import ast

    source = (Path(__file__).resolve().parents[2] / "src/flightdeck/app.py").read_text()
    create_app_node = next(
        node
        for node in ast.parse(source).body
        if isinstance(node, ast.FunctionDef) and node.name == "create_app"
    )
    assert (create_app_node.end_lineno or 0) - create_app_node.lineno + 1 < 40
