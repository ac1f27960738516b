"""What the users domain adds to a running server: sign-up, sign-in and profiles, and (a
hook) how the platform's auth check reads a token's user on every request. The sign-in
throttle keeps its counters in the platform's rate-limit storage (nothing to open here)."""

from __future__ import annotations

from flightdeck.platform.modules import DomainModule
from flightdeck.platform.security.identity import register_identity_loader
from flightdeck.users.router import router
from flightdeck.users.service import load_identity


def _identity_loader() -> None:
    register_identity_loader(load_identity)


module = DomainModule(name="users", routers=(router,), hooks=(_identity_loader,))
