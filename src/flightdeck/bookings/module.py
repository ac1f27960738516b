"""What the bookings domain adds to a running server.

Router: `/bookings`, and the edge that answers holds before routing (bookings/edge.py).
Hook: a flight cancelled by the airline cancels its bookings in the same transaction
(registered with the flights domain's status service). Shared resource (opened in
every process, since flights, payments and notifications call the bookings service in-process
even where bookings is not served): the booking store the settings name (MongoDB opened and
closed here; every session carries the settings so code holding only a session reaches that
store). Worker: the hold sweeper. Readiness: the MongoDB
store, when configured.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial

from flightdeck.bookings.edge import BookingEdge
from flightdeck.bookings.mongo_client import (
    close_configured_store,
    is_mongo_url,
    open_configured_store,
    ping_configured_store,
)
from flightdeck.bookings.router import router
from flightdeck.bookings.service import cancel_bookings_on_flight
from flightdeck.bookings.stores import bind_booking_store
from flightdeck.bookings.sweeper import build_hold_sweeper
from flightdeck.flights.status.service import register_cancellation_handler
from flightdeck.platform.modules import DomainModule, Runtime, Worker
from flightdeck.platform.observability import ReadinessCheck


def _cancel_bookings_with_flights() -> None:
    register_cancellation_handler(cancel_bookings_on_flight)


@asynccontextmanager
async def booking_store(runtime: Runtime) -> AsyncIterator[None]:
    await open_configured_store(runtime.settings)  # MongoDB, when configured
    try:
        bind_booking_store(runtime.sessionmaker, runtime.settings)
        yield
    finally:
        await close_configured_store(runtime.settings)


def _hold_sweeper(runtime: Runtime) -> Worker | None:
    return build_hold_sweeper(runtime.sessionmaker, runtime.settings)


def _store_readiness(runtime: Runtime) -> dict[str, ReadinessCheck]:
    if not is_mongo_url(runtime.settings.bookings_store_url):
        return {}
    return {"bookings_store": partial(ping_configured_store, runtime.settings)}


module = DomainModule(
    name="bookings",
    routers=(router,),
    middleware=(BookingEdge,),
    hooks=(_cancel_bookings_with_flights,),
    shared_resources=(booking_store,),
    workers=(_hold_sweeper,),
    readiness=(_store_readiness,),
)
