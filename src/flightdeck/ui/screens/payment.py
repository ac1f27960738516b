"""Pay the held booking by card, wallet or PayPal (`POST /payments`), 3-D Secure included."""

from __future__ import annotations

from typing import Any

import flet as ft

from flightdeck.ui.api import ApiError
from flightdeck.ui.formatting import local_date_time, money
from flightdeck.ui.screens.base import Screen
from flightdeck.ui.widgets import (
    Busy,
    Form,
    choice,
    form_column,
    heading,
    ident,
    responsive,
    status_badge,
    text_field,
)

SANDBOX_HELP = """Test mode (sandbox gateway) — no real money moves:
• Card 4242 4242 4242 4242: paid · 4000 0000 0000 0002: declined · 4000 0000 0000 9995: \
insufficient funds · 4000 0000 0000 3220: asks for 3-D Secure. Any future expiry, any CVC.
• Wallet token tok_success: paid · tok_decline: declined.
• PayPal: any e-mail pays; one starting with decline@ is declined."""
PAYMENT_CODES = {"card_declined": "method.number", "insufficient_funds": "method.number"}
METHODS = (("card", "Card"), ("wallet", "Apple / Google Pay"), ("paypal", "PayPal"))


class PaymentScreen(Screen):
    title = "Payment"

    def build(self) -> ft.Control:
        trip = self.state.trip
        if trip is None or trip.booking is None:
            return ft.Text("Nothing to pay: pick a flight and hold seats first.")
        self.booking: dict[str, Any] = trip.booking
        self.method = ft.SegmentedButton(
            segments=[ft.Segment(value=v, label=t) for v, t in METHODS],
            selected=["card"],
            on_change=self._method_changed,
        )
        self.form = self._payment_form()
        self.panels = self._method_panels()
        self.busy = Busy(self.page, "pay-progress")
        total = money(self.booking["total_price"])
        self.pay_button = ft.FilledButton(f"Pay {total}", icon=ft.Icons.PAYMENT, on_click=self._pay)
        self.outcome = ft.Text("")
        pnr = ft.Text(f"Booking {self.booking['pnr']}", weight=ft.FontWeight.BOLD)
        held = local_date_time(self.booking["hold_expires_at"])
        help_box = ft.Container(
            ft.Text(SANDBOX_HELP, size=12),
            padding=10,
            bgcolor=ft.Colors.SURFACE_CONTAINER_HIGHEST,
            border_radius=8,
        )
        return form_column(
            heading("Payment", "pay-heading"),
            ft.Row([ident("pay-pnr", pnr), status_badge(self.booking["status"], "pay-status")]),
            ft.Text(f"Seats held until {held} (UTC). Total {total}."),
            ident("pay-method", self.method),
            *self.panels.values(),
            ident("pay-test-help", help_box),
            self.form.error_control,
            ft.Row([ident("pay-submit", self.pay_button), self.busy.control]),
            ident("pay-outcome", self.outcome),
        )

    def _payment_form(self) -> Form:
        p = "pay"
        wallets = [("google_pay", "Google Pay"), ("apple_pay", "Apple Pay")]
        fields: dict[str, ft.TextField | ft.Dropdown] = {
            "method.number": text_field("card-number", "Card number", prefix=p, autofocus=True,
                                        keyboard_type=ft.KeyboardType.NUMBER),
            "method.exp_month": text_field("exp-month", "Expiry month (MM)", prefix=p),
            "method.exp_year": text_field("exp-year", "Expiry year (YYYY)", prefix=p),
            "method.cvc": text_field("cvc", "CVC", prefix=p, password=True),
            "method.holder": text_field("holder", "Name on card", prefix=p, on_submit=self._pay),
            "method.provider": choice("pay-wallet", "Wallet", wallets, "google_pay"),
            "method.token": text_field("wallet-token", "Wallet token", prefix=p,
                                       value="tok_success"),
            "method.payer_email": text_field("paypal-email", "PayPal e-mail", prefix=p,
                                             keyboard_type=ft.KeyboardType.EMAIL),
        }  # fmt: skip
        return Form(p, fields, code_fields=PAYMENT_CODES)

    def _method_panels(self) -> dict[str, ft.Column]:
        """The fields of each way to pay; the card's shown first."""
        c = self.form.control
        expiry = responsive(c("method.exp_month"), c("method.exp_year"), c("method.cvc"), desktop=4)
        panels = {
            "card": [c("method.number"), expiry, c("method.holder")],
            "wallet": [c("method.provider"), c("method.token")],
            "paypal": [c("method.payer_email")],
        }
        return {
            name: ft.Column(
                controls,
                visible=name == "card",
                horizontal_alignment=ft.CrossAxisAlignment.STRETCH,
            )
            for name, controls in panels.items()
        }

    async def _method_changed(self) -> None:
        chosen = self.method.selected[0]
        for name, panel in self.panels.items():
            panel.visible = name == chosen
        self.page.update()

    def _method_body(self) -> dict[str, Any]:
        chosen = self.method.selected[0]
        value = self.form.value
        if chosen == "wallet":
            return {
                "type": "wallet",
                "provider": value("method.provider"),
                "token": value("method.token"),
            }
        if chosen == "paypal":
            return {"type": "paypal", "payer_email": value("method.payer_email")}
        return {
            "type": "card",
            "number": value("method.number").replace(" ", ""),
            "exp_month": _number(value("method.exp_month")),
            "exp_year": _number(value("method.exp_year")),
            "cvc": value("method.cvc"),
            "holder": value("method.holder"),
        }

    async def _pay(self) -> None:
        self.form.clear()
        body = {"booking_id": self.booking["id"], "method": self._method_body()}
        async with self.busy.running(self.pay_button):
            try:
                payment = await self.api.pay(body)
            except ApiError as error:
                self.form.show(error)
                return
        await self._settle(payment)

    async def _settle(self, payment: dict[str, Any]) -> None:
        status = payment.get("status")
        if status == "requires_action":
            self._ask_for_3ds(payment)
        elif status == "failed":
            code = str(payment.get("failure_code") or "declined")
            self.form.show(
                ApiError(402, code, f"The payment was declined ({code.replace('_', ' ')})")
            )
            self.page.update()
        else:  # succeeded, or processing: the trip page follows the outcome live
            await self.context.go(f"/trips/{self.booking['id']}")

    def _ask_for_3ds(self, payment: dict[str, Any]) -> None:
        async def confirm() -> None:
            self.page.pop_dialog()
            async with self.busy.running(self.pay_button):
                try:
                    confirmed = await self.api.confirm_payment(payment["id"])
                except ApiError as error:
                    self.form.show(error)
                    return
            await self._settle(confirmed)

        dialog = ft.AlertDialog(
            modal=True,
            title=ft.Text("3-D Secure"),
            content=ft.Text(f"Your bank asks you to approve {money(payment['amount'])}."),
            actions=[ident("pay-3ds-approve", ft.FilledButton("Approve", on_click=confirm))],
        )
        self.page.show_dialog(dialog)


def _number(text: str) -> int | str:
    """An integer when the text is one; else the text, for the server to refuse by field."""
    return int(text) if text.isdigit() else text
