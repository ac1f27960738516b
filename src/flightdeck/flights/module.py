"""What the flights domain adds to a running server.

Routers: airports and dated flights, live status (with the signed status-feed webhook), seat
maps, schedules (with SSIM import). Worker: the external status feed's Kafka consumer, when
Kafka is configured. Other domains hook into it: bookings registers what a flight
cancellation does to its bookings (`bookings/module.py`).
"""

from __future__ import annotations

from flightdeck.flights.inventory.router import router as inventory_router
from flightdeck.flights.router import router as flights_router
from flightdeck.flights.schedules.router import router as schedules_router
from flightdeck.flights.status.feed_kafka import StatusFeedConsumer, status_feed_consumer
from flightdeck.flights.status.router import router as status_router
from flightdeck.platform.modules import DomainModule, Runtime


def _status_feed(runtime: Runtime) -> StatusFeedConsumer | None:
    return status_feed_consumer(runtime.sessionmaker, runtime.settings)


module = DomainModule(
    name="flights",
    # The status router first: `POST /flights/status-feed` before `/flights/{flight_id}`.
    routers=(status_router, flights_router, inventory_router, schedules_router),
    workers=(_status_feed,),
)
