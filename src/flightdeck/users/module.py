"""What the users domain adds to a running server: sign-up, sign-in and profiles. The sign-in
throttle keeps its counters in the platform's rate-limit storage (nothing to open here)."""

from __future__ import annotations

from flightdeck.platform.modules import DomainModule
from flightdeck.users.router import router

module = DomainModule(name="users", routers=(router,))
