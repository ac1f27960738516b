"""Sign in, or create a passenger account (and be signed in)."""

from __future__ import annotations

import flet as ft

from flightdeck.ui.api import ApiError
from flightdeck.ui.screens.base import Screen
from flightdeck.ui.widgets import Busy, Form, form_column, heading, ident, text_field

SIGN_IN_CODES = {"invalid_credentials": "password", "rate_limited": "password"}
SIGN_UP_CODES = {"email_taken": "email", "weak_password": "password"}


class AuthScreen(Screen):
    title = "Sign in"

    def build(self) -> ft.Control:
        self.mode = ft.SegmentedButton(
            segments=[
                ft.Segment(value="signin", label="Sign in"),
                ft.Segment(value="signup", label="Create account"),
            ],
            selected=["signin"],
            on_change=self._mode_changed,
        )
        self.sign_in_form, self.sign_up_form = self._sign_in_form(), self._sign_up_form()
        self.busy = Busy(self.page, "auth-progress")
        self.sign_in_button = ft.FilledButton("Sign in", on_click=self._sign_in)
        self.sign_up_button = ft.FilledButton("Create account", on_click=self._sign_up)
        self.sign_in_panel = _panel(self.sign_in_form, ident("signin-submit", self.sign_in_button))
        self.sign_up_panel = _panel(self.sign_up_form, ident("signup-submit", self.sign_up_button))
        self.sign_up_panel.visible = False
        return form_column(
            heading("Welcome to FlightDeck", "auth-heading"),
            ft.Row([ident("auth-mode", self.mode)]),
            self.sign_in_panel,
            self.sign_up_panel,
            ft.Row([self.busy.control]),
        )

    def _sign_in_form(self) -> Form:
        p = "signin"
        email = text_field(
            "email", "Email", prefix=p, autofocus=True, keyboard_type=ft.KeyboardType.EMAIL
        )
        password = text_field(
            "password", "Password", prefix=p, password=True, can_reveal_password=True
        )
        password.on_submit = self._sign_in  # Enter signs in
        return Form(p, {"email": email, "password": password}, code_fields=SIGN_IN_CODES)

    def _sign_up_form(self) -> Form:
        p = "signup"
        fields = {
            "full_name": text_field("full_name", "Full name", prefix=p),
            "email": text_field("email", "Email", prefix=p, keyboard_type=ft.KeyboardType.EMAIL),
            "password": text_field("password", "Password", prefix=p, password=True,
                                   can_reveal_password=True, hint="At least 10 characters"),
            "phone": text_field("phone", "Phone (optional)", prefix=p,
                                keyboard_type=ft.KeyboardType.PHONE),
        }  # fmt: skip
        fields["phone"].on_submit = self._sign_up
        return Form(p, fields, code_fields=SIGN_UP_CODES)

    async def _mode_changed(self) -> None:
        signing_up = "signup" in self.mode.selected
        self.sign_in_panel.visible, self.sign_up_panel.visible = not signing_up, signing_up
        self.page.update()

    async def _sign_in(self) -> None:
        form = self.sign_in_form
        form.clear()
        async with self.busy.running(self.sign_in_button):
            try:
                self.state.user = await self.api.sign_in(
                    form.value("email"), form.value("password")
                )
            except ApiError as error:
                form.show(error)
                return
        await self.context.signed_in()

    async def _sign_up(self) -> None:
        form = self.sign_up_form
        form.clear()
        body = {name: form.value(name) for name in form.fields}
        if not body["phone"]:
            del body["phone"]
        async with self.busy.running(self.sign_up_button):
            try:
                await self.api.register(body)
                self.state.user = await self.api.sign_in(body["email"], body["password"])
            except ApiError as error:
                form.show(error)
                return
        await self.context.signed_in()


def _panel(form: Form, submit: ft.Control) -> ft.Column:
    """A form's fields, its error line and its button, stretched to the column."""
    return ft.Column(
        [*(form.control(name) for name in form.fields), form.error_control, ft.Row([submit])],
        horizontal_alignment=ft.CrossAxisAlignment.STRETCH,
    )
