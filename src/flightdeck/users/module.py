"""What the users domain adds to a running server: sign-up, sign-in and profiles, the
failed sign-in throttle (`app.state.login_throttle`), and (a hook) how the platform's auth
check reads a token's user on every request."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from flightdeck.platform.modules import DomainModule, Runtime
from flightdeck.platform.ratelimit import FailureThrottle
from flightdeck.platform.security.identity import register_identity_loader
from flightdeck.users.router import router
from flightdeck.users.service import load_identity


@asynccontextmanager
async def login_throttle(runtime: Runtime) -> AsyncIterator[None]:
    settings = runtime.settings
    runtime.app.state.login_throttle = FailureThrottle(
        settings.login_max_failures, settings.login_failure_window_seconds
    )
    yield


def _identity_loader() -> None:
    register_identity_loader(load_identity)


module = DomainModule(
    name="users", routers=(router,), hooks=(_identity_loader,), resources=(login_throttle,)
)
