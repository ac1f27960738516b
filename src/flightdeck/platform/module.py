"""What every server runs whatever its services: `/healthz`, `/readyz`, `/metrics`, the API
docs (`/docs`, `/redoc`, served offline), the rate limits of every request (and their storage,
which the sign-in throttle shares), the outbox relay (every service writes events to the
outbox in its transactions), and the identity-cache eviction (every service checks access
tokens against their user: when a user changes on any instance, each process forgets what it
cached about them)."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager

from flightdeck.platform.api_docs import ASSETS_PATH, docs_assets
from flightdeck.platform.api_docs import router as docs_router
from flightdeck.platform.events.bus import EventHandler
from flightdeck.platform.events.relay import build_outbox_relay
from flightdeck.platform.http_limits import RateLimits, open_rate_limits
from flightdeck.platform.modules import DomainModule, Runtime, Subscription, Worker
from flightdeck.platform.observability import router as ops_router
from flightdeck.platform.security.identity import USER_CHANGED, evict_changed_user


def _outbox_relay(runtime: Runtime) -> Worker | None:
    return build_outbox_relay(runtime.sessionmaker, runtime.settings, runtime.bus)


def _rate_limits(runtime: Runtime) -> AbstractAsyncContextManager[RateLimits]:
    return open_rate_limits(runtime.app, runtime.settings)


def _identity_evictions(runtime: Runtime) -> EventHandler:
    return evict_changed_user


module = DomainModule(
    name="platform",
    routers=(ops_router, docs_router),
    resources=(_rate_limits,),
    subscriptions=(
        # Broadcast: every instance keeps its own identity cache.
        Subscription("identity-cache", _identity_evictions, event_types=[USER_CHANGED]),
    ),
    workers=(_outbox_relay,),
    mounts=((ASSETS_PATH, docs_assets),),
)
