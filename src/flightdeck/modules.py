"""Every module of a FlightDeck server, in the order they are wired: the one place where the
whole system's wiring is readable. Each entry's `module.py` says what that domain adds (routers,
resources, event subscriptions, background workers, hooks into other domains, readiness).

`flightdeck serve --services a,b` runs part of the list: the platform module always, then the
named services. Hooks are registered for every domain whatever runs: they are in-process
service calls that keep one transaction whole (a flight cancelled by a flights-only process
still cancels its bookings).
"""

from __future__ import annotations

from collections.abc import Collection

from flightdeck.admin.module import module as admin
from flightdeck.bookings.module import module as bookings
from flightdeck.flights.module import module as flights
from flightdeck.notifications.module import module as notifications
from flightdeck.payments.module import module as payments
from flightdeck.platform.module import module as platform
from flightdeck.platform.modules import DomainModule
from flightdeck.search.module import module as search
from flightdeck.ui.server.module import module as ui
from flightdeck.users.module import module as users

MODULES: tuple[DomainModule, ...] = (
    platform,
    users,
    flights,
    search,
    bookings,
    payments,
    notifications,
    admin,
    ui,
)

SERVICES: tuple[str, ...] = tuple(m.name for m in MODULES if m is not platform)


class UnknownService(ValueError):
    """A service name that no module has."""


def select_modules(services: Collection[str] | None = None) -> tuple[DomainModule, ...]:
    """The modules a server runs: all by default, else the platform and the named services."""
    if services is None:
        return MODULES
    unknown = sorted(set(services) - set(SERVICES))
    if unknown:
        raise UnknownService(
            f"unknown service(s) {', '.join(unknown)}; choose from {', '.join(SERVICES)}"
        )
    return tuple(m for m in MODULES if m is platform or m.name in services)
