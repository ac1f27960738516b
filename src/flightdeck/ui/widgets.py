"""Building blocks every screen uses: identified controls, forms that show the server's errors
next to their fields, progress indicators and status badges."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

import flet as ft

from flightdeck.ui.api import ApiError
from flightdeck.ui.formatting import label

# Shown once something has taken this long, so quick answers do not flash a spinner.
PROGRESS_DELAY_SECONDS = 0.3
PHONE_MAX_WIDTH = 720
STATUS_COLOURS = {
    "confirmed": ft.Colors.GREEN_700,
    "on_time": ft.Colors.GREEN_700,
    "arrived": ft.Colors.GREEN_700,
    "scheduled": ft.Colors.BLUE_GREY_600,
    "boarding": ft.Colors.BLUE_700,
    "departed": ft.Colors.BLUE_700,
    "pending_payment": ft.Colors.AMBER_800,
    "delayed": ft.Colors.ORANGE_800,
    "diverted": ft.Colors.ORANGE_800,
    "cancelled": ft.Colors.RED_700,
    "expired": ft.Colors.GREY_700,
}

Field = ft.TextField | ft.Dropdown


def ident(identifier: str, control: ft.Control, label: str | None = None) -> ft.Semantics:
    """`control` under a stable semantics identifier (accessibility tools, tests)."""
    return ft.Semantics(identifier=identifier, label=label, content=control)


def text_field(
    name: str, label_text: str, *, prefix: str, hint: str | None = None, **options: Any
) -> ft.TextField:
    return ft.TextField(label=label_text, hint_text=hint, data=f"{prefix}-{name}", **options)


def heading(text: str, identifier: str | None = None) -> ft.Control:
    title = ft.Text(text, theme_style=ft.TextThemeStyle.TITLE_LARGE)
    return ident(identifier, title) if identifier else title


def status_badge(status: str | None, identifier: str) -> ft.Control:
    colour = STATUS_COLOURS.get(status or "", ft.Colors.BLUE_GREY_600)
    badge = ft.Container(
        content=ft.Text(label(status), color=ft.Colors.WHITE, size=12, weight=ft.FontWeight.BOLD),
        bgcolor=colour,
        border_radius=12,
        padding=ft.Padding.symmetric(horizontal=10, vertical=3),
    )
    return ident(identifier, badge, label=f"Status: {label(status)}")


def snack(page: ft.Page, message: str) -> None:
    page.show_dialog(ft.SnackBar(ft.Text(message)))


class Form:
    """Named fields; the server's errors go next to the field they concern (by the field the
    error names, or by its code), anything else into the form's own error line."""

    def __init__(
        self,
        identifier: str,
        fields: Mapping[str, Field],
        *,
        code_fields: Mapping[str, str] | None = None,
    ) -> None:
        self.fields = dict(fields)
        self.code_fields = dict(code_fields or {})
        self.error_line = ft.Text(color=ft.Colors.ERROR)
        # Hidden by its wrapper: a Semantics must always have visible content.
        self.error_control = ident(f"{identifier}-error", self.error_line)
        self.error_control.visible = False

    def value(self, name: str) -> str:
        return str(self.fields[name].value or "").strip()

    def control(self, name: str) -> ft.Control:
        """The field under its identifier (`<form>-<name>` from its `data`)."""
        field = self.fields[name]
        return ident(str(field.data or name), field)

    def clear(self) -> None:
        for field in self.fields.values():
            _set_error(field, None)
        self.error_line.value, self.error_control.visible = "", False

    def show(self, error: ApiError) -> None:
        self.clear()
        placed = False
        for name, message in error.field_messages().items():
            field = self._field_for(name)
            if field is not None:
                _set_error(field, message)
                placed = True
        coded = self.fields.get(self.code_fields.get(error.code, ""))
        if coded is not None and not placed:
            _set_error(coded, error.message)
            placed = True
        if not placed:
            self.fail(error.message)

    def fail(self, message: str, field: str | None = None) -> None:
        """A message of the app's own (e.g. an unreadable date) by a field or for the form."""
        if field is not None and field in self.fields:
            _set_error(self.fields[field], message)
            return
        self.error_line.value, self.error_control.visible = message, True

    def _field_for(self, name: str) -> Field | None:
        if name in self.fields:
            return self.fields[name]
        last = name.rsplit(".", 1)[-1]
        matches = [f for key, f in self.fields.items() if key.rsplit(".", 1)[-1] == last]
        return matches[0] if len(matches) == 1 else None


def _set_error(field: Field, message: str | None) -> None:
    if isinstance(field, ft.Dropdown):
        field.error_text = message
    else:
        field.error = message


class Busy:
    """A progress ring for work slower than ~300 ms, with its triggers disabled meanwhile."""

    def __init__(self, page: ft.Page, identifier: str) -> None:
        self.page = page
        self.ring = ft.ProgressRing(width=22, height=22, stroke_width=3)
        self.control = ident(identifier, self.ring, label="Working")
        self.control.visible = False
        self.active = False

    @contextlib.asynccontextmanager
    async def running(self, *triggers: ft.Control) -> AsyncIterator[None]:
        for trigger in triggers:
            trigger.disabled = True
        self.active = True
        self.page.update()
        reveal = asyncio.create_task(self._reveal())
        try:
            yield
        finally:
            reveal.cancel()
            self.active = self.control.visible = False
            for trigger in triggers:
                trigger.disabled = False
            self.page.update()

    async def _reveal(self) -> None:
        await asyncio.sleep(PROGRESS_DELAY_SECONDS)
        if self.active:
            self.control.visible = True
            self.page.update()


def is_phone(page: ft.Page, width: float | None = None) -> bool:
    """Narrower than a desktop layout needs (`width`, else the page's)."""
    width = width if width is not None else page.width
    return width is not None and float(width) < PHONE_MAX_WIDTH


def responsive(*controls: ft.Control, desktop: int = 6) -> ft.ResponsiveRow:
    """Side by side on a desktop (`desktop` of 12 columns each), stacked on a phone."""
    for control in controls:
        control.col = {"xs": 12, "md": desktop}
    return ft.ResponsiveRow(list(controls), spacing=12, run_spacing=8)


def choice(
    identifier: str,
    label_text: str,
    options: Sequence[tuple[str, str]],
    value: str,
    **extra: Any,
) -> ft.Dropdown:
    """A drop-down of (key, text) options as wide as its column."""
    return ft.Dropdown(
        label=label_text,
        value=value,
        data=identifier,
        options=[ft.DropdownOption(key=key, text=text) for key, text in options],
        expand=True,  # as wide as its column (a drop-down sizes to its text otherwise)
        **extra,
    )


def form_column(*controls: ft.Control) -> ft.ResponsiveRow:
    """A form's controls, stretched: the whole width on a phone, part of it on a desktop."""
    column = ft.Column(
        list(controls), horizontal_alignment=ft.CrossAxisAlignment.STRETCH, spacing=12
    )
    column.col = {"xs": 12, "md": 10, "lg": 7, "xl": 6}
    return ft.ResponsiveRow([column])
