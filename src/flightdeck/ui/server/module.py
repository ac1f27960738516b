"""What the app (flightdeck.ui) adds to a running server: the Flet app mounted at `/` (after
every API router, so API paths are unchanged), and Flet's session manager for the server's
lifetime. It lives in ui/server/ with the rest of the server side; the app itself is a client
of the HTTP API and /ws."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.types import ASGIApp

from flightdeck.platform.modules import DomainModule, Runtime, Wiring
from flightdeck.platform.settings import Settings

# The services whose routes the app calls (its API client, flightdeck/ui/api.py).
API_SERVICES = ("users", "flights", "search", "bookings", "payments", "notifications")


def check_api_reachable(wiring: Wiring, ui_api_url: str) -> None:
    """Without `ui_api_url` the app calls the API of its own process: that process must serve
    it. `flightdeck serve --services ui` alone needs FLIGHTDECK_UI_API_URL (the gateway)."""
    missing = [name for name in API_SERVICES if name not in wiring.services]
    if missing and not ui_api_url:
        raise RuntimeError(
            f"the app calls the API, but this process does not serve {', '.join(missing)}: "
            "set FLIGHTDECK_UI_API_URL to the gateway's address (e.g. http://gateway:8080)"
        )


# Flet is imported only where the app is served (it is most of a process's start-up).


@asynccontextmanager
async def _flet_sessions(runtime: Runtime) -> AsyncIterator[None]:
    from flightdeck.ui.server import ui_running

    check_api_reachable(runtime.app.state.wiring, runtime.settings.ui_api_url)
    async with ui_running():
        yield


def _the_app(settings: Settings) -> ASGIApp:
    from flightdeck.ui.server import build_ui_app

    return build_ui_app(settings)


module = DomainModule(name="ui", resources=(_flet_sessions,), mounts=(("/", _the_app),))
