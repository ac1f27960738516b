"""create_app(): the FastAPI app of the domain modules `flightdeck.modules` lists."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from functools import partial

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.telemetry import TelemetryConfig

from flightdeck import __version__
from flightdeck.modules import MODULES, select_modules
from flightdeck.platform.errors import install_error_handlers
from flightdeck.platform.http_limits import install_rate_limiting
from flightdeck.platform.lifespan import run_modules
from flightdeck.platform.log_redaction import install_log_redaction
from flightdeck.platform.logging_config import configure_logging
from flightdeck.platform.middleware import install_request_guards
from flightdeck.platform.modules import DomainModule, Wiring
from flightdeck.platform.observability import MetricsMiddleware
from flightdeck.platform.openapi import document_shared_errors
from flightdeck.platform.request_context import RequestContextMiddleware
from flightdeck.platform.security.auth import rejection_before_body
from flightdeck.platform.security.passwords import use_hashing_cost
from flightdeck.platform.settings import Settings, get_settings

DESCRIPTION = """FlightDeck: flight schedules, live status, search, bookings and payments.

All errors share one shape: `{"error": {"code", "message", "details"}}`.
Authenticate with `Authorization: Bearer <access token>` from `POST /login`."""


# FastAPI's OpenTelemetry instrumentation when FLIGHTDECK_OPENTELEMETRY is off.
TELEMETRY_OFF: TelemetryConfig = {"tracing": False, "metrics": False, "logs": False}


def create_app(
    settings: Settings | None = None, services: Collection[str] | None = None
) -> FastAPI:
    """The app of every module, or of the platform and the named `services` only (by default
    those of the `services` setting, FLIGHTDECK_SERVICES: all when empty)."""
    settings = settings or get_settings()
    install_log_redaction()  # WebSocket handshakes carry ?token= in the URL
    configure_logging(settings.log_level)
    use_hashing_cost(settings.password_hashing)
    modules = select_modules(services if services is not None else settings.service_names)
    for module in MODULES:  # every domain's hooks, whatever this process serves
        for hook in module.hooks:
            hook()

    app = FastAPI(
        title="FlightDeck",
        version=__version__,
        description=DESCRIPTION,
        lifespan=partial(run_modules, settings=settings, modules=modules, shared=MODULES),
        # The platform module serves /docs and /redoc with local assets (platform/api_docs.py).
        docs_url=None,
        redoc_url=None,
        telemetry=None if settings.opentelemetry else TELEMETRY_OFF,
    )
    app.state.wiring = Wiring(services=[m.name for m in modules if m.name != "platform"])
    _install_middleware(app, settings, modules)
    _include(app, settings, modules)
    # Any route may answer the rate limits' 429 (platform/http_limits.py) when they are on.
    limited = [(429, "rate_limited", "Too many requests")] if settings.rate_limits_enabled else []
    document_shared_errors(app, every_operation=limited)
    return app


def _install_middleware(app: FastAPI, settings: Settings, modules: Sequence[DomainModule]) -> None:
    """Error handlers and middleware, innermost first: the modules' own, then the platform's."""
    install_error_handlers(app, auth_rejection=rejection_before_body)
    for module in modules:
        for middleware in module.middleware:
            app.add_middleware(middleware)
    install_rate_limiting(app)  # inside metrics and CORS: 429s are counted and readable
    install_request_guards(app, settings)  # body caps, and one answer to unexpected errors
    app.add_middleware(MetricsMiddleware)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["*"],
            allow_headers=["*"],
        )
    # Outermost: each request gets a fresh context (client address, then the signed-in actor).
    app.add_middleware(RequestContextMiddleware)


def _include(app: FastAPI, settings: Settings, modules: Sequence[DomainModule]) -> None:
    """Routers of every module, then mounted sub-apps (a mount at / must come last)."""
    wiring: Wiring = app.state.wiring
    for module in modules:
        for router in module.routers:
            # The router's routes themselves, not `include_router`: since FastAPI 0.137 an
            # included router is matched lazily, through its own candidates, on every request
            # (GET /search spent about 270 µs matching behind 13 included routers, 90 µs over
            # the flat list). Our routers set nothing that only `include_router` applies:
            # prefix, tags and include_in_schema are already on each route.
            app.router.routes.extend(router.routes)
            paths = wiring.routes.setdefault(module.name, [])
            paths.extend(getattr(route, "path", "") for route in router.routes)
    for module in modules:
        for path, build in module.mounts:
            app.mount(path, build(settings))
            wiring.routes.setdefault(module.name, []).append(path)
