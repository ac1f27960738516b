"""The server's lifespan: the shared machinery, then every domain module's part of it.

Opened in this order and closed in reverse: keys, the database engine, the cache, the event
bus (created), the shared resources of every module (`shared`, whatever this process serves),
each running module's resources, the bus subscriptions, the bus (started), each
module's workers; then the heap startup built is frozen for the garbage collector
(`startup_heap_frozen`). So workers stop before the bus (nothing is published into a closed bus) and
the bus stops before the resources its handlers use.
"""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager, contextmanager

from fastapi import FastAPI

from flightdeck.platform.cache import RedisCache, configure_cache, create_cache
from flightdeck.platform.cache_invalidation import invalidate_again_after
from flightdeck.platform.db import create_engine, create_sessionmaker
from flightdeck.platform.events.factory import create_bus
from flightdeck.platform.modules import DomainModule, Runtime, Wiring
from flightdeck.platform.observability import ReadinessCheck, database_check
from flightdeck.platform.replica import ReadDatabase, create_replica_engine
from flightdeck.platform.security.digests import configure_digest_keys, load_digest_keys
from flightdeck.platform.security.encryption import configure_keyring, load_keyring
from flightdeck.platform.security.identity import IdentityCache
from flightdeck.platform.security.tokens import jwt_secret
from flightdeck.platform.settings import Settings


@asynccontextmanager
async def run_modules(
    app: FastAPI,
    settings: Settings,
    modules: Sequence[DomainModule],
    shared: Sequence[DomainModule] = (),
) -> AsyncIterator[None]:
    """Runs the server's shared machinery and `modules` for the lifetime of the app, with the
    shared resources of `shared` (every module, in a server)."""
    configure_keyring(load_keyring(settings))
    configure_digest_keys(load_digest_keys(settings))
    jwt_secret(settings)  # fail fast in production when unset
    wiring: Wiring = app.state.wiring
    app.state.workers = {}
    async with AsyncExitStack() as stack:
        runtime = await _open_platform(app, settings, stack)
        for module in shared:
            for resource in module.shared_resources:
                await stack.enter_async_context(resource(runtime))
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
        app.state.optional_checks = _optional_checks(runtime)
        stack.enter_context(startup_heap_frozen())
        yield


# Net allocations between two collections of the youngest generation while serving.
YOUNG_COLLECTION_THRESHOLD = 10_000


@contextmanager
def startup_heap_frozen() -> Iterator[None]:
    """What startup built (modules, routes, schemas, airports, pools) lives as long as the
    server: it is moved out of the cyclic garbage collector's way (`gc.freeze()`) until
    shutdown. Otherwise every full collection walks all of it again: under a cold direct
    search load on PostgreSQL that was 0.5-0.8 ms of a request's ~3 ms of CPU (no difference
    measured on SQLite). Shutdown unfreezes (`gc.unfreeze()`), so a process that builds apps
    one after another (the test suite) collects them as before.

    While it serves, the youngest generation is collected after `YOUNG_COLLECTION_THRESHOLD`
    net allocations instead of Python's 700: 200 concurrent holds keep thousands of young
    objects alive, and each collection walked them all again (per 4,000 holds ~220 young
    and ~20 middle collections, 0.35-0.38 s of CPU, ~5 % of the holds' CPU and a 5-10 ms
    pause every few hundred holds; with 10,000: 5 collections, 35 ms). The cycles between
    two collections are garbage a few MB at most. Shutdown restores the thresholds."""
    thresholds = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(max(thresholds[0], YOUNG_COLLECTION_THRESHOLD), *thresholds[1:])
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()


async def _open_platform(app: FastAPI, settings: Settings, stack: AsyncExitStack) -> Runtime:
    engine = create_engine(settings)
    stack.push_async_callback(engine.dispose)
    replica = create_replica_engine(settings) if settings.database_replica_url else None
    if replica is not None:
        stack.push_async_callback(replica.dispose)
    sessionmaker = create_sessionmaker(engine)
    reads = ReadDatabase(settings, engine, replica, like=sessionmaker)
    stack.push_async_callback(reads.close)  # before the engines are disposed
    # Entries a search cached from a replica that had not replayed a change yet are dropped
    # once more after the longest lag reads tolerate.
    stack.callback(
        invalidate_again_after,
        invalidate_again_after(settings.database_replica_max_lag_seconds if replica else 0.0),
    )
    # Search results and the like (Redis when configured); domains use get_cache().
    cache = create_cache(settings)
    stack.push_async_callback(cache.close)
    stack.callback(configure_cache, configure_cache(cache))
    runtime = Runtime(
        app=app,
        settings=settings,
        engine=engine,
        sessionmaker=sessionmaker,
        cache=cache,
        bus=create_bus(settings),  # handlers subscribe before it starts
        reads=reads,
    )
    state = app.state
    state.settings, state.engine, state.sessionmaker = settings, engine, runtime.sessionmaker
    state.cache, state.bus, state.reads = cache, runtime.bus, reads
    # Who each access token's user is now (role, active, token version), briefly per process.
    state.identity_cache = IdentityCache(settings.identity_cache_seconds)
    return runtime


def _readiness_checks(
    runtime: Runtime, modules: Sequence[DomainModule]
) -> dict[str, ReadinessCheck]:
    """What /readyz requires: the database, and what each module cannot serve without."""
    checks: dict[str, ReadinessCheck] = {"database": database_check(runtime.engine)}
    for module in modules:
        for readiness in module.readiness:
            checks.update(readiness(runtime))
    return checks


def _optional_checks(runtime: Runtime) -> dict[str, ReadinessCheck]:
    """What /readyz reports without requiring it: the process copes while these are down
    (the cache falls through to the database, rate limits count in-process)."""
    checks: dict[str, ReadinessCheck] = {}
    if isinstance(runtime.cache, RedisCache):
        checks["cache"] = runtime.cache.ping
    if runtime.reads.replica is not None:
        checks["replica"] = database_check(runtime.reads.replica)
    return checks
