"""A form in a dialog: submit, keep it open with the server's errors by their fields, close
on success."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import flet as ft

from flightdeck.ui.api import ApiError
from flightdeck.ui.widgets import Busy, Form, ident

DIALOG_WIDTH = 520


class InvalidInput(Exception):
    """Input the app cannot even send (an unreadable time); `field` names where to show it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


class FormDialog:
    def __init__(
        self,
        page: ft.Page,
        identifier: str,
        title: str,
        form: Form,
        body: list[ft.Control],
        *,
        submit_label: str,
        on_submit: Callable[[], Awaitable[None]],
    ) -> None:
        self.page = page
        self.form = form
        self.on_submit = on_submit
        self.busy = Busy(page, f"{identifier}-progress")
        self.submit = ft.FilledButton(submit_label, on_click=self._submit)
        content = ft.Column(
            [*body, form.error_control],
            tight=True,
            spacing=10,
            horizontal_alignment=ft.CrossAxisAlignment.STRETCH,
        )
        self.dialog = ft.AlertDialog(
            modal=True,
            scrollable=True,
            title=ft.Text(title),
            content=ident(identifier, ft.Container(content, width=DIALOG_WIDTH)),
            actions=[
                self.busy.control,
                ident(f"{identifier}-close", ft.TextButton("Close", on_click=self._close)),
                ident(f"{identifier}-submit", self.submit),
            ],
        )

    def open(self) -> None:
        self.page.show_dialog(self.dialog)

    async def _close(self) -> None:
        self.close()

    def close(self) -> None:
        # This dialog, not the top one: a snack bar shown meanwhile is a dialog too.
        self.dialog.open = False
        self.page.update()

    async def _submit(self) -> None:
        self.form.clear()
        async with self.busy.running(self.submit):
            try:
                await self.on_submit()
            except InvalidInput as invalid:
                self.form.fail(invalid.message, invalid.field)
                return
            except ApiError as error:
                self.form.show(error)
                return
        self.close()
