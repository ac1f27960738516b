"""The app's entry point: one `main(page)` per session, given where the API is."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping

import flet as ft

from flightdeck.ui.api import ApiClient
from flightdeck.ui.session import SessionState
from flightdeck.ui.shell import Shell

Main = Callable[[ft.Page], Awaitable[None]]


# The server side's header factory: the browser's address → headers the API believes.
ClientHeaders = Callable[[str], Mapping[str, str]]


def make_main(api_url: Callable[[], str], client_headers: ClientHeaders | None = None) -> Main:
    """`main(page)` for Flet; `api_url()` names the API's base URL when a session starts.
    Served in a browser, each API call carries `client_headers(<the browser's address>)`, so
    the API sees the browser, not the server the app runs on."""

    async def main(page: ft.Page) -> None:
        identity: Callable[[], Mapping[str, str]] | None = None
        if page.web and client_headers is not None:
            factory = client_headers

            def identity() -> Mapping[str, str]:
                return factory(page.client_ip or "")  # read each time: a session may resume

        state = SessionState(ApiClient(api_url(), identity_headers=identity))
        await Shell(page, state).start()

    return main
