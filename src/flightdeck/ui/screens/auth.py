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
        self.sign_in_form = Form(
            "signin",
            {
                "email": text_field(
                    "email",
                    "Email",
                    prefix="signin",
                    autofocus=True,
                    keyboard_type=ft.KeyboardType.EMAIL,
                ),
                "password": text_field(
                    "password",
                    "Password",
                    prefix="signin",
                    password=True,
                    can_reveal_password=True,
                    on_submit=self._sign_in,
                ),
            },
            code_fields=SIGN_IN_CODES,
        )
        self.sign_up_form = Form(
            "signup",
            {
                "full_name": text_field("full_name", "Full name", prefix="signup"),
                "email": text_field(
                    "email", "Email", prefix="signup", keyboard_type=ft.KeyboardType.EMAIL
                ),
                "password": text_field(
                    "password",
                    "Password",
                    prefix="signup",
                    password=True,
                    can_reveal_password=True,
                    hint="At least 10 characters",
                ),
                "phone": text_field(
                    "phone",
                    "Phone (optional)",
                    prefix="signup",
                    keyboard_type=ft.KeyboardType.PHONE,
                    on_submit=self._sign_up,
                ),
            },
            code_fields=SIGN_UP_CODES,
        )
        self.busy = Busy(self.page, "auth-progress")
        self.sign_in_button = ft.FilledButton("Sign in", on_click=self._sign_in)
        self.sign_up_button = ft.FilledButton("Create account", on_click=self._sign_up)
        stretch = ft.CrossAxisAlignment.STRETCH
        self.sign_in_panel = ft.Column(
            horizontal_alignment=stretch,
            controls=[
                *(self.sign_in_form.control(n) for n in ("email", "password")),
                self.sign_in_form.error_control,
                ft.Row([ident("signin-submit", self.sign_in_button)]),
            ],
        )
        self.sign_up_panel = ft.Column(
            horizontal_alignment=stretch,
            controls=[
                *(self.sign_up_form.control(n) for n in self.sign_up_form.fields),
                self.sign_up_form.error_control,
                ft.Row([ident("signup-submit", self.sign_up_button)]),
            ],
            visible=False,
        )
        return form_column(
            heading("Welcome to FlightDeck", "auth-heading"),
            ft.Row([ident("auth-mode", self.mode)]),
            self.sign_in_panel,
            self.sign_up_panel,
            ft.Row([self.busy.control]),
        )

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
