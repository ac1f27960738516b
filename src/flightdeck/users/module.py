"""What the users domain adds to a running server: sign-up, sign-in and profiles, and the
failed sign-in throttle (`app.state.login_throttle`)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from flightdeck.platform.modules import DomainModule, Runtime
from flightdeck.platform.ratelimit import FailureThrottle
from flightdeck.users.router import router


@asynccontextmanager
async def login_throttle(runtime: Runtime) -> AsyncIterator[None]:
    settings = runtime.settings
    runtime.app.state.login_throttle = FailureThrottle(
        settings.login_max_failures, settings.login_failure_window_seconds
    )
    yield


module = DomainModule(name="users", routers=(router,), resources=(login_throttle,))
