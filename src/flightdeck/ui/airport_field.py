"""An airport field with type-ahead: suggestions from `GET /airports?q=` as the user types."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import flet as ft

from flightdeck.ui.api import ApiClient, ApiError
from flightdeck.ui.widgets import ident, text_field

LOOKUP_DELAY_SECONDS = 0.25  # wait for a pause in typing before asking the server
MIN_QUERY = 2


class AirportField:
    """`field` (registered in a Form by the caller) and `control` (field + suggestions)."""

    def __init__(
        self, api: ApiClient, name: str, label_text: str, *, prefix: str, autofocus: bool = False
    ) -> None:
        self.api = api
        self.identifier = f"{prefix}-{name}"
        self.field = text_field(
            name,
            label_text,
            prefix=prefix,
            hint="City, airport or IATA code",
            capitalization=ft.TextCapitalization.CHARACTERS,
            autofocus=autofocus,
            on_change=self._changed,
        )
        self.suggestions = ft.Column(spacing=0)
        # Hidden by its wrapper: a Semantics must always have visible content.
        self.suggestions_control = ident(f"{self.identifier}-suggestions", self.suggestions)
        self.suggestions_control.visible = False
        self.control = ft.Column(
            horizontal_alignment=ft.CrossAxisAlignment.STRETCH,
            controls=[
                ident(self.identifier, self.field),
                self.suggestions_control,
            ],
            spacing=2,
        )
        self.timezones: dict[str, str] = {}
        self._lookup: asyncio.Task[None] | None = None

    @property
    def code(self) -> str:
        """The IATA code typed or picked (`JFK · New York` → `JFK`)."""
        return str(self.field.value or "").strip().split(" ", 1)[0].upper()

    async def _changed(self) -> None:
        if self._lookup is not None:
            self._lookup.cancel()
        text = str(self.field.value or "").strip()
        if len(text) < MIN_QUERY:
            self.suggestions_control.visible = False
            self.suggestions_control.update()
            return
        self._lookup = asyncio.create_task(self._suggest(text))

    async def _suggest(self, text: str) -> None:
        await asyncio.sleep(LOOKUP_DELAY_SECONDS)
        with contextlib.suppress(ApiError):
            airports: list[dict[str, Any]] = await self.api.airports(text)
            self.timezones.update({a["iata"]: a["timezone"] for a in airports})
            self.suggestions.controls = [self._option(a) for a in airports]
            exact = len(airports) == 1 and airports[0]["iata"] == text.upper()
            self.suggestions_control.visible = bool(airports) and not exact
            self.suggestions_control.update()

    def _option(self, airport: dict[str, Any]) -> ft.Control:
        tile = ft.ListTile(
            title=ft.Text(f"{airport['iata']} · {airport['city']}"),
            subtitle=ft.Text(f"{airport['name']}, {airport['country']}"),
            dense=True,
            data=airport["iata"],
            on_click=self._picked,
        )
        return ident(f"{self.identifier}-option-{airport['iata']}", tile)

    async def _picked(self, event: ft.Event[Any]) -> None:
        self.field.value = str(event.control.data)
        self.field.error = None
        self.suggestions_control.visible = False
        self.field.update()
        self.suggestions_control.update()

    async def timezone(self) -> str:
        """The airport's IANA zone (asked from the server when not seen in suggestions)."""
        code = self.code
        if code not in self.timezones:
            with contextlib.suppress(ApiError):
                for airport in await self.api.airports(code):
                    self.timezones[airport["iata"]] = airport["timezone"]
        return self.timezones.get(code, "")
