"""Every route runs on the event loop: no endpoint and no dependency is a plain function.

FastAPI runs a plain-function endpoint or dependency in its threadpool: a hop to a worker
thread and back on every request. Under load those hops queue behind the GIL (a cached search
answered at 20 % of the hello-world floor, with thirty threadpool threads awake, until the
replica dependency became a coroutine). Blocking work is handed to a thread explicitly, where
it is, not by declaring a dependency with `def`.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from typing import Any

from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from flightdeck.app import create_app
from flightdeck.platform.settings import Settings


def _runs_on_the_loop(call: Callable[..., Any]) -> bool:
    # A class instance with an async __call__: its bound method is what FastAPI awaits.
    candidates = (call, getattr(call, "__call__", None))  # noqa: B004
    return any(
        inspect.iscoroutinefunction(c) or inspect.isasyncgenfunction(c)
        for c in candidates
        if c is not None
    )


def _api_routes(settings: Settings) -> Iterator[APIRoute]:
    for route in create_app(settings).routes:
        contexts = getattr(route, "effective_route_contexts", None)  # an included router
        for context in contexts() if contexts else [route]:
            original = getattr(context, "original_route", context)
            if isinstance(original, APIRoute):
                yield original


def _dependencies(dependant: Dependant) -> Iterator[Dependant]:
    for sub in dependant.dependencies:
        yield sub
        yield from _dependencies(sub)


def test_no_route_hops_to_the_threadpool(settings: Settings) -> None:
    routes = list(_api_routes(settings))
    assert len(routes) >= 40  # every domain's routes were found, not an empty walk
    threaded = sorted(
        f"{route.path}: {getattr(call, '__qualname__', call)}"
        for route in routes
        for call in [route.endpoint, *(d.call for d in _dependencies(route.dependant) if d.call)]
        if not _runs_on_the_loop(call)
    )
    assert threaded == []


def test_the_check_catches_a_plain_function() -> None:
    def plain() -> None:
        return None

    async def coroutine() -> None:
        return None

    assert not _runs_on_the_loop(plain)
    assert _runs_on_the_loop(coroutine)
