"""The server's lifespan: the shared machinery, then every domain module's part of it.

Opened in this order and closed in reverse: keys, the database engine, the cache, the event
bus (created), each module's resources, the bus subscriptions, the bus (started), each
module's workers. So workers stop before the bus (nothing is published into a closed bus) and
the bus stops before the resources its handlers use.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager

from fastapi import FastAPI

from flightdeck.platform.cache import RedisCache, configure_cache, create_cache
from flightdeck.platform.db import create_engine, create_sessionmaker
from flightdeck.platform.events.factory import create_bus
from flightdeck.platform.modules import DomainModule, Runtime, Wiring
from flightdeck.platform.observability import ReadinessCheck, database_check
from flightdeck.platform.security.digests import configure_digest_keys, load_digest_keys
from flightdeck.platform.security.encryption import configure_keyring, load_keyring
from flightdeck.platform.security.identity import IdentityCache
from flightdeck.platform.security.tokens import jwt_secret
from flightdeck.platform.settings import Settings


@asynccontextmanager
async def run_modules(
    app: FastAPI, settings: Settings, modules: Sequence[DomainModule]
) -> AsyncIterator[None]:
    """Runs the server's shared machinery and `modules` for the lifetime of the app."""
    configure_keyring(load_keyring(settings))
    configure_digest_keys(load_digest_keys(settings))
    jwt_secret(settings)  # fail fast in production when unset
    wiring: Wiring = app.state.wiring
    app.state.workers = {}
    async with AsyncExitStack() as stack:
        runtime = await _open_platform(app, settings, stack)
        for module in modules:
            for resource in module.resources:
                await stack.enter_async_context(resource(runtime))
        for module in modules:
            for subscription in module.subscriptions:
                runtime.bus.subscribe(
                    subscription.handler(runtime),
                    group=subscription.group,
                    event_types=subscription.event_types,
                )
                wiring.subscriptions.setdefault(module.name, []).append(subscription.name)
        await runtime.bus.start()
        stack.push_async_callback(runtime.bus.stop)
        for module in modules:
            for factory in module.workers:
                worker = factory(runtime)
                if worker is None:
                    continue  # disabled in this process by the settings
                worker.start()
                stack.push_async_callback(worker.stop)
                app.state.workers[worker.name] = worker
                wiring.workers.setdefault(module.name, []).append(worker.name)
        app.state.readiness_checks = _readiness_checks(runtime, modules)
        yield


async def _open_platform(app: FastAPI, settings: Settings, stack: AsyncExitStack) -> Runtime:
    engine = create_engine(settings)
    stack.push_async_callback(engine.dispose)
    # Search results and the like (Redis when configured); domains use get_cache().
    cache = create_cache(settings)
    stack.push_async_callback(cache.close)
    stack.callback(configure_cache, configure_cache(cache))
    runtime = Runtime(
        app=app,
        settings=settings,
        engine=engine,
        sessionmaker=create_sessionmaker(engine),
        cache=cache,
        bus=create_bus(settings),  # handlers subscribe before it starts
    )
    state = app.state
    state.settings, state.engine, state.sessionmaker = settings, engine, runtime.sessionmaker
    state.cache, state.bus = cache, runtime.bus
    # Who each access token's user is now (role, active, token version), briefly per process.
    state.identity_cache = IdentityCache(settings.identity_cache_seconds)
    return runtime


def _readiness_checks(
    runtime: Runtime, modules: Sequence[DomainModule]
) -> dict[str, ReadinessCheck]:
    """What /readyz checks: the database, the shared cache, and what each module adds."""
    checks: dict[str, ReadinessCheck] = {"database": database_check(runtime.engine)}
    if isinstance(runtime.cache, RedisCache):
        checks["cache"] = runtime.cache.ping
    for module in modules:
        for readiness in module.readiness:
            checks.update(readiness(runtime))
    return checks
