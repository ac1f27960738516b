"""create_app(): settings, lifespan, middleware, error handlers and routers."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from flightdeck import __version__
from flightdeck.flights.router import router as flights_router
from flightdeck.flights.schedules_router import router as schedules_router
from flightdeck.platform.db import create_engine, create_sessionmaker
from flightdeck.platform.errors import install_error_handlers
from flightdeck.platform.observability import metrics_middleware
from flightdeck.platform.observability import router as ops_router
from flightdeck.platform.ratelimit import FailureThrottle
from flightdeck.platform.security.encryption import configure_keyring, load_keyring
from flightdeck.platform.security.tokens import jwt_secret
from flightdeck.platform.settings import Settings, get_settings
from flightdeck.users.router import router as users_router

log = logging.getLogger(__name__)

DESCRIPTION = """FlightDeck: flight schedules, live status, search, bookings and payments.

All errors share one shape: `{"error": {"code", "message", "details"}}`.
Authenticate with `Authorization: Bearer <access token>` from `POST /login`."""


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        configure_keyring(load_keyring(settings))
        jwt_secret(settings)  # fail fast in production when unset
        engine = create_engine(settings)
        app.state.settings = settings
        app.state.engine = engine
        app.state.sessionmaker = create_sessionmaker(engine)
        app.state.login_throttle = FailureThrottle(
            settings.login_max_failures, settings.login_failure_window_seconds
        )
        try:
            yield
        finally:
            await engine.dispose()

    app = FastAPI(
        title="FlightDeck",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    install_error_handlers(app)
    app.middleware("http")(metrics_middleware)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["*"],
            allow_headers=["*"],
        )
    app.include_router(users_router)
    app.include_router(flights_router)
    app.include_router(schedules_router)
    app.include_router(ops_router)
    return app
