"""Serving the app from the FlightDeck server: the mount at `/`, its files and lifespan.

The only part of `flightdeck.ui` that runs on the server side of the HTTP API; the app itself
(`flightdeck.ui` outside this package) is a client of that API and imports none of it.

Flet is imported when the mount is built, not with this package: a process that does not
serve the app (`flightdeck serve --services bookings`) starts without loading it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flightdeck.ui.server.mount import build_ui_app, ui_running

__all__ = ["build_ui_app", "ui_running"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from flightdeck.ui.server import mount

        return getattr(mount, name)
    raise AttributeError(name)
