"""create_app(): settings, lifespan, middleware, error handlers and routers."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from flightdeck import __version__
from flightdeck.bookings.mongo_client import (
    close_configured_store,
    is_mongo_url,
    open_configured_store,
    ping_configured_store,
)
from flightdeck.bookings.repository import bind_booking_store
from flightdeck.bookings.router import router as bookings_router
from flightdeck.bookings.service import cancel_bookings_on_flight, register_refund_handler
from flightdeck.bookings.sweeper import start_hold_sweeper, stop_hold_sweeper
from flightdeck.flights.router import router as flights_router
from flightdeck.flights.schedules_router import router as schedules_router
from flightdeck.flights.status_feed_kafka import start_status_feed_consumer
from flightdeck.flights.status_feed_router import router as status_feed_router
from flightdeck.flights.status_service import register_cancellation_handler
from flightdeck.notifications.handlers import register_notification_handlers
from flightdeck.notifications.router import router as notifications_router
from flightdeck.notifications.ws import router as ws_router
from flightdeck.payments.gateways import build_gateway, configure_gateway
from flightdeck.payments.reconciler import start_reconciler, stop_reconciler
from flightdeck.payments.refund_worker import start_refund_worker
from flightdeck.payments.refunds import refund_booking_payment
from flightdeck.payments.router import router as payments_router
from flightdeck.platform.cache import RedisCache, configure_cache, create_cache
from flightdeck.platform.db import create_engine, create_sessionmaker
from flightdeck.platform.errors import install_error_handlers
from flightdeck.platform.events.bus import create_bus
from flightdeck.platform.events.relay import start_relay
from flightdeck.platform.http_limits import install_rate_limiting, open_rate_limits
from flightdeck.platform.log_redaction import install_log_redaction
from flightdeck.platform.logging_config import configure_logging
from flightdeck.platform.observability import ReadinessCheck, database_check, metrics_middleware
from flightdeck.platform.observability import router as ops_router
from flightdeck.platform.security.encryption import configure_keyring, load_keyring
from flightdeck.platform.security.tokens import jwt_secret
from flightdeck.platform.settings import Settings, get_settings
from flightdeck.search.router import router as search_router
from flightdeck.users.router import router as users_router

log = logging.getLogger(__name__)

DESCRIPTION = """FlightDeck: flight schedules, live status, search, bookings and payments.

All errors share one shape: `{"error": {"code", "message", "details"}}`.
Authenticate with `Authorization: Bearer <access token>` from `POST /login`."""


def _readiness_checks(app: FastAPI, settings: Settings) -> dict[str, ReadinessCheck]:
    """What /readyz checks: the database, and each optional server when configured."""
    checks: dict[str, ReadinessCheck] = {"database": database_check(app.state.engine)}
    if isinstance(app.state.cache, RedisCache):
        checks["cache"] = app.state.cache.ping
    if is_mongo_url(settings.bookings_store_url):
        checks["bookings_store"] = partial(ping_configured_store, settings)
    return checks


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    install_log_redaction()  # WebSocket handshakes carry ?token= in the URL
    configure_logging(settings.log_level)
    # A cancelled flight cancels its bookings, in the same transaction.
    register_cancellation_handler(cancel_bookings_on_flight)
    # A cancelled paid booking's refund is queued in the same transaction (the refund
    # worker pays it back through the gateway once it commits).
    register_refund_handler(refund_booking_payment)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        configure_keyring(load_keyring(settings))
        jwt_secret(settings)  # fail fast in production when unset
        await open_configured_store(settings)  # MongoDB bookings store, when configured
        engine = create_engine(settings)
        app.state.settings = settings
        app.state.engine = engine
        app.state.sessionmaker = create_sessionmaker(engine)
        # Search results and the like (Redis when configured); domains use get_cache().
        app.state.cache = cache = create_cache(settings)
        previous_cache = configure_cache(cache)
        # The payment gateway (sandbox or Stripe) behind timeouts and a circuit breaker.
        app.state.payment_gateway = gateway = build_gateway(settings)
        previous_gateway = configure_gateway(gateway)
        # Request limits and the sign-in throttle share one storage (Redis when configured).
        rate_limits = open_rate_limits(app, settings)
        bind_booking_store(app.state.sessionmaker, settings)
        sweeper = start_hold_sweeper(app.state.sessionmaker, settings)
        # Payments whose outcome was lost, and queued refunds (both None when disabled).
        reconciler = start_reconciler(app.state.sessionmaker, settings)
        app.state.refund_worker = refund_worker = start_refund_worker(
            app.state.sessionmaker, settings
        )
        # The event bus: handlers subscribe between create_bus() and bus.start().
        app.state.bus = bus = create_bus(settings)
        # Inbox, email and the WebSocket hub (app.state.hub, app.state.mailer).
        hub = register_notification_handlers(app, app.state.sessionmaker, settings)
        await bus.start()
        await hub.start()
        app.state.relay = relay = start_relay(app.state.sessionmaker, bus, settings)
        # External status updates on Kafka (None without Kafka: the webhook only).
        app.state.status_feed = feed = start_status_feed_consumer(app.state.sessionmaker, settings)
        app.state.readiness_checks = _readiness_checks(app, settings)
        try:
            yield
        finally:
            await hub.stop()  # closes this process's sockets (going away)
            if feed is not None:
                await feed.stop()
            if relay is not None:
                await relay.stop()  # before the bus: nothing is published into a closed bus
            await bus.stop()
            await stop_hold_sweeper(sweeper)
            await stop_reconciler(reconciler)
            if refund_worker is not None:
                await refund_worker.stop()
            await engine.dispose()
            await close_configured_store(settings)
            configure_cache(previous_cache)
            configure_gateway(previous_gateway)
            await gateway.aclose()
            await cache.close()
            await rate_limits.close()

    app = FastAPI(
        title="FlightDeck",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    install_error_handlers(app)
    install_rate_limiting(app)  # inside metrics and CORS: 429s are counted and readable
    app.middleware("http")(metrics_middleware)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["*"],
            allow_headers=["*"],
        )
    app.include_router(users_router)
    app.include_router(status_feed_router)  # before /flights/{id} routes
    app.include_router(flights_router)
    app.include_router(schedules_router)
    app.include_router(search_router)
    app.include_router(bookings_router)
    app.include_router(payments_router)
    app.include_router(notifications_router)
    app.include_router(ws_router)
    app.include_router(ops_router)
    return app
