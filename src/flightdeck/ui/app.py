"""The app's entry point: one `main(page)` per session, given where the API is."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import flet as ft

from flightdeck.ui.api import ApiClient
from flightdeck.ui.session import SessionState
from flightdeck.ui.shell import Shell

Main = Callable[[ft.Page], Awaitable[None]]


def make_main(api_url: Callable[[], str]) -> Main:
    """`main(page)` for Flet; `api_url()` names the API's base URL when a session starts."""

    async def main(page: ft.Page) -> None:
        # Served by the FlightDeck server, the API sees the browser's address, not ours.
        forwarded_for = page.client_ip if page.web else None
        state = SessionState(ApiClient(api_url(), forwarded_for=forwarded_for))
        await Shell(page, state).start()

    return main
