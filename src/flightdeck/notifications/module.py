"""What the notifications domain adds to a running server.

Routers: the inbox and `POST /notifications`, and `WS /ws`. Resources: the mailer and this
process's WebSocket hub (`app.state.mailer`, `app.state.hub`). Subscriptions: flight, booking
and payment events become inbox rows (competing group: one instance handles each event),
`notification.created` becomes e-mail, and every event reaches this process's hub (broadcast,
so a change made on any instance reaches sockets held by every other). Worker: the hub's
heartbeat.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from flightdeck.notifications.email import Mailer
from flightdeck.notifications.handlers import GROUP, PLANNERS, email_handler, inbox_handler
from flightdeck.notifications.hub import WebSocketHub
from flightdeck.notifications.router import router
from flightdeck.notifications.service import NOTIFICATION_CREATED
from flightdeck.notifications.ws import router as ws_router
from flightdeck.platform.events.bus import EventHandler
from flightdeck.platform.modules import DomainModule, Runtime, Subscription


@asynccontextmanager
async def mailer_and_hub(runtime: Runtime) -> AsyncIterator[None]:
    state = runtime.app.state
    state.mailer = Mailer(runtime.settings)
    state.hub = WebSocketHub(heartbeat_seconds=runtime.settings.ws_heartbeat_seconds)
    yield


def _hub(runtime: Runtime) -> WebSocketHub:
    hub: WebSocketHub = runtime.app.state.hub
    return hub


def _inbox(runtime: Runtime) -> EventHandler:
    return inbox_handler(runtime.sessionmaker, runtime.app.state.mailer)


def _email(runtime: Runtime) -> EventHandler:
    return email_handler(runtime.sessionmaker, runtime.app.state.mailer)


def _to_sockets(runtime: Runtime) -> EventHandler:
    return _hub(runtime).handle_event


module = DomainModule(
    name="notifications",
    routers=(router, ws_router),
    resources=(mailer_and_hub,),
    subscriptions=(
        Subscription("inbox", _inbox, group=GROUP, event_types=list(PLANNERS)),
        Subscription("email", _email, group=GROUP, event_types=[NOTIFICATION_CREATED]),
        Subscription("websocket-hub", _to_sockets),  # broadcast
    ),
    workers=(_hub,),
)
