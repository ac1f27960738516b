"""What every screen gets from the shell, and what the shell expects of a screen."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import flet as ft

from flightdeck.ui.api import ApiError
from flightdeck.ui.session import SessionState
from flightdeck.ui.widgets import snack


@dataclass
class Context:
    page: ft.Page
    state: SessionState
    go: Callable[[str], Awaitable[None]]
    signed_in: Callable[[], Awaitable[None]]
    unread_changed: Callable[[], Awaitable[None]]


class Screen:
    """A screen: `build()` the controls (quick, no I/O), then `start()` loads what it shows;
    `dispose()` when the shell moves on (stop listening)."""

    title = ""

    def __init__(self, context: Context) -> None:
        self.context = context
        self.page = context.page
        self.state = context.state
        self.api = context.state.api
        self._stop_listening: list[Callable[[], None]] = []

    def build(self) -> ft.Control:
        raise NotImplementedError

    async def start(self) -> None:
        """Loads the data the screen shows (default: nothing to load)."""

    def dispose(self) -> None:
        for stop in self._stop_listening:
            stop()
        self._stop_listening.clear()

    def listen(self, listener: Callable[[dict[str, object]], Awaitable[None]]) -> None:
        self._stop_listening.append(self.state.listen(listener))

    def report(self, error: ApiError) -> None:
        """An error no field owns: a passing message at the bottom of the screen."""
        snack(self.page, error.message)
