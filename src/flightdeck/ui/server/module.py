"""What the app (flightdeck.ui) adds to a running server: the Flet app mounted at `/` (after
every API router, so API paths are unchanged), and Flet's session manager for the server's
lifetime. It lives in ui/server/ with the rest of the server side; the app itself is a client
of the HTTP API and /ws."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager

from flightdeck.platform.modules import DomainModule, Runtime
from flightdeck.ui.server import build_ui_app, ui_running


def _flet_sessions(runtime: Runtime) -> AbstractAsyncContextManager[None]:
    return ui_running()


module = DomainModule(name="ui", resources=(_flet_sessions,), mounts=(("/", build_ui_app),))
