"""Serving the app from the FlightDeck server: the mount at `/`, its files and lifespan.

The only part of `flightdeck.ui` that runs on the server side of the HTTP API; the app itself
(`flightdeck.ui` outside this package) is a client of that API and imports none of it.
"""

from flightdeck.ui.server.mount import build_ui_app, ui_running

__all__ = ["build_ui_app", "ui_running"]
