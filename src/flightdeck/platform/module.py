"""What every server runs whatever its services: `/healthz`, `/readyz`, `/metrics`, the
outbox relay (every service writes events to the outbox in its transactions), and the
identity-cache eviction (every service checks access tokens against their user: when a user
changes on any instance, each process forgets what it cached about them)."""

from __future__ import annotations

from flightdeck.platform.events.bus import EventHandler
from flightdeck.platform.events.relay import build_outbox_relay
from flightdeck.platform.modules import DomainModule, Runtime, Subscription, Worker
from flightdeck.platform.observability import router as ops_router
from flightdeck.platform.security.identity import USER_CHANGED, evict_changed_user


def _outbox_relay(runtime: Runtime) -> Worker | None:
    return build_outbox_relay(runtime.sessionmaker, runtime.settings, runtime.bus)


def _identity_evictions(runtime: Runtime) -> EventHandler:
    return evict_changed_user


module = DomainModule(
    name="platform",
    routers=(ops_router,),
    subscriptions=(
        # Broadcast: every instance keeps its own identity cache.
        Subscription("identity-cache", _identity_evictions, event_types=[USER_CHANGED]),
    ),
    workers=(_outbox_relay,),
)
