"""What every server runs whatever its services: `/healthz`, `/readyz`, `/metrics`, the API
docs (`/docs`, `/redoc`, served offline), the rate limits of every request (and their storage,
which the sign-in throttle shares), and the outbox relay (every service writes events to the
outbox in its transactions)."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager

from flightdeck.platform.api_docs import ASSETS_PATH, docs_assets
from flightdeck.platform.api_docs import router as docs_router
from flightdeck.platform.events.relay import build_outbox_relay
from flightdeck.platform.http_limits import RateLimits, open_rate_limits
from flightdeck.platform.modules import DomainModule, Runtime, Worker
from flightdeck.platform.observability import router as ops_router


def _outbox_relay(runtime: Runtime) -> Worker | None:
    return build_outbox_relay(runtime.sessionmaker, runtime.settings, runtime.bus)


def _rate_limits(runtime: Runtime) -> AbstractAsyncContextManager[RateLimits]:
    return open_rate_limits(runtime.app, runtime.settings)


module = DomainModule(
    name="platform",
    routers=(ops_router, docs_router),
    resources=(_rate_limits,),
    workers=(_outbox_relay,),
    mounts=((ASSETS_PATH, docs_assets),),
)
