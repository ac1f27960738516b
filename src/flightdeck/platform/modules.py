"""What a domain adds to a running server, declared in one value per domain.

Each domain has a `module.py` exposing a `DomainModule`: its routers, the resources it opens
for the server's lifetime, its event subscriptions, its background workers, its readiness
checks, its mounted sub-apps, and the hooks it registers with other domains. `create_app()`
composes a list of them (`flightdeck.modules.MODULES`), so that list is the one place where the
whole system's wiring can be read. `Wiring` records what each module actually added to an app.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field

from fastapi import APIRouter, FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from starlette.types import ASGIApp

from flightdeck.platform.cache import Cache
from flightdeck.platform.events.bus import EventBus, EventHandler
from flightdeck.platform.observability import ReadinessCheck
from flightdeck.platform.replica import ReadDatabase
from flightdeck.platform.settings import Settings
from flightdeck.platform.worker import Worker as Worker


@dataclass(frozen=True)
class Runtime:
    """What a running server hands its modules in the lifespan."""

    app: FastAPI
    settings: Settings
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    cache: Cache
    bus: EventBus
    reads: ReadDatabase  # lag-tolerant reads: the replica when configured, else the primary


@dataclass(frozen=True)
class Subscription:
    """An event handler on the bus. `group=None` is a broadcast (every instance gets every
    event); a group shares the events among its instances (each handled once)."""

    name: str
    handler: Callable[[Runtime], EventHandler]
    group: str | None = None
    event_types: Sequence[str] | None = None


Resource = Callable[[Runtime], AbstractAsyncContextManager[object]]
WorkerFactory = Callable[[Runtime], Worker | None]
Readiness = Callable[[Runtime], dict[str, ReadinessCheck]]
Mount = tuple[str, Callable[[Settings], ASGIApp]]


@dataclass(frozen=True)
class DomainModule:
    """One domain's contribution to a server. Resources open in order before anything else
    of the module runs and close in reverse; `hooks` run once when the app is built.

    `shared_resources` are what the domain's service layer needs wherever it is called: they
    open in every process, whatever services it runs, since other domains call that service
    in-process (a flights-only process cancelling a flight cancels its bookings in the
    configured booking store). `resources` open only where the domain itself runs."""

    name: str
    routers: tuple[APIRouter, ...] = ()
    hooks: tuple[Callable[[], None], ...] = ()
    shared_resources: tuple[Resource, ...] = ()
    resources: tuple[Resource, ...] = ()
    subscriptions: tuple[Subscription, ...] = ()
    workers: tuple[WorkerFactory, ...] = ()
    readiness: tuple[Readiness, ...] = ()
    mounts: tuple[Mount, ...] = ()
    # ASGI middleware around the app's routes, inside the platform's (request context,
    # metrics, rate limits): `cls(app)` each, the first innermost.
    middleware: tuple[Callable[[ASGIApp], ASGIApp], ...] = ()


@dataclass
class Wiring:
    """What each module added to one app: route paths, subscriptions and started workers."""

    services: list[str] = field(default_factory=list)
    routes: dict[str, list[str]] = field(default_factory=dict)
    subscriptions: dict[str, list[str]] = field(default_factory=dict)
    workers: dict[str, list[str]] = field(default_factory=dict)
