"""My trips, and one trip: live status per flight (pushed over /ws), pay or cancel."""

from __future__ import annotations

from typing import Any

import flet as ft

from flightdeck.ui.api import ApiError
from flightdeck.ui.formatting import TO, duration, label, leg, local_date_time, local_time, money
from flightdeck.ui.live import Message
from flightdeck.ui.screens.base import Screen
from flightdeck.ui.widgets import Busy, heading, ident, status_badge

CANCELLABLE = {"pending_payment", "confirmed"}


class TripsScreen(Screen):
    title = "My trips"

    def build(self) -> ft.Control:
        self.list = ft.Column(spacing=8)
        self.busy = Busy(self.page, "trips-progress")
        return ft.Column(
            [
                ft.Row([heading("My trips", "trips-heading"), self.busy.control]),
                ident("trips-list", self.list),
            ]
        )

    async def start(self) -> None:
        await self.refresh()
        self.listen(self._live)

    async def refresh(self) -> None:
        async with self.busy.running():
            page = await self.api.bookings()
        bookings = page.get("items", [])
        self.list.controls = [self._card(i, b) for i, b in enumerate(bookings)] or [
            ft.Text("No trips yet. Search for a flight to book one.")
        ]

    def _card(self, index: int, booking: dict[str, Any]) -> ft.Control:
        segments = booking["segments"]
        route = (
            TO.join([segments[0]["origin"], *(s["destination"] for s in segments)])
            if segments
            else ""
        )
        first = segments[0]["departure_time"] if segments else None
        tile = ft.ListTile(
            title=ft.Text(f"{booking['pnr']} · {route}"),
            subtitle=ft.Text(f"{local_date_time(first)} · {money(booking['total_price'])}"),
            trailing=status_badge(booking["status"], f"trip-{index}-status"),
            data=booking["id"],
            on_click=self._open,
        )
        return ident(f"trip-{index}", ft.Card(tile))

    async def _open(self, event: ft.Event[Any]) -> None:
        await self.context.go(f"/trips/{event.control.data}")

    async def _live(self, message: Message) -> None:
        if str(message.get("type", "")).startswith(("booking.", "payment.")):
            await self.refresh()
            self.page.update()


class TripScreen(Screen):
    title = "Trip"

    def __init__(self, context: Any, booking_id: str) -> None:
        super().__init__(context)
        self.booking_id = booking_id
        self.booking: dict[str, Any] = {}

    def build(self) -> ft.Control:
        self.header = ft.Column()
        self.flights = ft.Column(spacing=8)
        self.actions = ft.Row(wrap=True)
        self.outcome = ft.Text("")
        self.busy = Busy(self.page, "trip-progress")
        return ft.Column(
            [
                ft.Row([heading("Your trip", "trip-heading"), self.busy.control]),
                ident("trip-summary", self.header),
                ident("trip-flights", self.flights),
                ident("trip-outcome", self.outcome),
                self.actions,
            ],
            spacing=12,
        )

    async def start(self) -> None:
        await self.refresh()
        self.listen(self._live)

    async def refresh(self) -> None:
        async with self.busy.running():
            self.booking = await self.api.booking(self.booking_id)
            statuses = [
                await self.api.flight_status(s["flight_id"]) for s in self.booking["segments"]
            ]
        for segment in self.booking["segments"]:
            await self.state.follow_flight(segment["flight_id"])
        self._render(statuses)

    def _render(self, statuses: list[dict[str, Any]]) -> None:
        booking = self.booking
        passengers = ", ".join(f"{p['first_name']} {p['last_name']}" for p in booking["passengers"])
        self.header.controls = [
            ft.Row(
                [
                    ident("trip-pnr", ft.Text(booking["pnr"], size=22, weight=ft.FontWeight.BOLD)),
                    status_badge(booking["status"], "trip-status"),
                ]
            ),
            ft.Text(f"{label(booking['cabin'])} · {passengers} · {money(booking['total_price'])}"),
        ]
        if booking.get("refund_amount") and not self.outcome.value:
            self.outcome.value = f"Refund: {money(booking['refund_amount'])}"
        self.flights.controls = [
            self._flight(i, s, st)
            for i, (s, st) in enumerate(zip(booking["segments"], statuses, strict=True))
        ]
        self.actions.controls = self._actions()

    def _flight(self, index: int, segment: dict[str, Any], status: dict[str, Any]) -> ft.Control:
        seats = ", ".join(s for s in segment.get("seats", []) if s) or "assigned at check-in"
        estimated = status.get("estimated_departure")
        delay = int(status.get("delay_minutes") or 0)
        lines: list[ft.Control] = [
            ft.Row(
                [
                    ft.Text(leg(segment), weight=ft.FontWeight.BOLD),
                    status_badge(status.get("status"), f"flight-{index}-status"),
                ],
                wrap=True,
            ),
            ft.Text(
                f"Departs {local_date_time(segment['departure_time'])} · arrives "
                f"{local_date_time(segment['arrival_time'])} · "
                f"{duration(segment['duration_minutes'])}"
            ),
        ]
        if delay or estimated:
            lines.append(
                ident(
                    f"flight-{index}-delay",
                    ft.Text(
                        f"Delayed {duration(delay)}: now departs {local_time(estimated)}",
                        color=ft.Colors.ORANGE_800,
                        weight=ft.FontWeight.BOLD,
                    ),
                )
            )
        gate = " · ".join(
            x
            for x in (
                f"Terminal {status['terminal']}" if status.get("terminal") else "",
                f"Gate {status['gate']}" if status.get("gate") else "",
            )
            if x
        )
        lines.append(
            ident(f"flight-{index}-gate", ft.Text(gate or "Gate not yet assigned", size=12))
        )
        lines.append(ft.Text(f"Seats: {seats}", size=12))
        card = ft.Card(ft.Container(ft.Column(lines, spacing=4), padding=12))
        return ident(f"flight-{index}", card)

    def _actions(self) -> list[ft.Control]:
        actions: list[ft.Control] = []
        status = self.booking.get("status")
        if status == "pending_payment":
            pay = ft.FilledButton("Pay now", icon=ft.Icons.PAYMENT, on_click=self._pay)
            actions.append(ident("trip-pay", pay))
        if status in CANCELLABLE:
            cancel = ft.OutlinedButton(
                "Cancel booking", icon=ft.Icons.CANCEL, on_click=self._ask_cancel
            )
            actions.append(ident("trip-cancel", cancel))
        return actions

    async def _live(self, message: Message) -> None:
        flight_ids = {s["flight_id"] for s in self.booking.get("segments", [])}
        kind = str(message.get("type", ""))
        mine = message.get("booking_id") == self.booking_id
        if (kind == "flight.status" and message.get("flight_id") in flight_ids) or mine:
            await self.refresh()
            self.page.update()

    async def _pay(self) -> None:
        from flightdeck.ui.session import Trip

        trip = self.state.trip
        if trip is None or (trip.booking or {}).get("id") != self.booking_id:
            trip = Trip(
                {"segments": self.booking["segments"], "total_price": self.booking["total_price"]},
                self.booking["cabin"],
                len(self.booking["passengers"]),
            )
        trip.booking = self.booking
        self.state.trip = trip
        await self.context.go("/pay")

    async def _ask_cancel(self) -> None:
        try:  # the server's fare rules say what a cancellation now pays back
            async with self.busy.running(*self.actions.controls):
                quote = await self.api.cancellation_quote(self.booking_id)
        except ApiError as error:
            self.report(error)
            return
        refund = quote.get("refund")
        text = f"Refund if you cancel now: {money(refund)}. " if refund else ""
        text += str(quote.get("rule", ""))
        dialog = ft.AlertDialog(
            modal=True,
            title=ft.Text(f"Cancel booking {self.booking['pnr']}?"),
            content=ident("cancel-dialog-text", ft.Text(text)),
            actions=[
                ident("cancel-keep", ft.TextButton("Keep booking", on_click=self._close_dialog)),
                ident("cancel-confirm", ft.FilledButton("Cancel booking", on_click=self._cancel)),
            ],
        )
        self.page.show_dialog(dialog)

    async def _close_dialog(self) -> None:
        self.page.pop_dialog()

    async def _cancel(self) -> None:
        self.page.pop_dialog()
        try:
            async with self.busy.running(*self.actions.controls):
                result = await self.api.cancel_booking(self.booking_id)
        except ApiError as error:
            self.report(error)
            return
        refund = result.get("refund")
        self.booking = result.get("booking", self.booking)
        self.outcome.value = (
            f"Cancelled. Refund: {money(refund)}" if refund else "Cancelled. No refund due."
        )
        await self.refresh()
        self.page.update()
