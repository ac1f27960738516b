"""Airline operations: dated flights (create, edit, cancel) and their live status, delay and
gate — what passengers see change on their open screens."""

from __future__ import annotations

from typing import Any

import flet as ft

from flightdeck.ui.airport_field import AirportField
from flightdeck.ui.api import ApiError
from flightdeck.ui.dialogs import FormDialog
from flightdeck.ui.formatting import (
    TO,
    label,
    leg,
    local_date_time,
    local_time,
    money,
)
from flightdeck.ui.screens.base import Screen
from flightdeck.ui.screens.search import DateInput, date_field
from flightdeck.ui.screens.staff_forms import (
    cabin_fields,
    cabin_rows,
    cabins_body,
    flight_number_field,
    instant_or_invalid,
    plain_fields,
    zone_of,
)
from flightdeck.ui.widgets import (
    Busy,
    Form,
    choice,
    heading,
    ident,
    responsive,
    status_badge,
    text_field,
)

NEW_FLIGHT_TIMES = (
    ("departure_time", "departure", "Departure (local)", ""),
    ("arrival_time", "arrival", "Arrival (local)", ""),
)
STATUSES = (
    "scheduled",
    "on_time",
    "delayed",
    "boarding",
    "departed",
    "arrived",
    "cancelled",
    "diverted",
)
PAGE_SIZE = 25


def _dropdown(
    name: str, label_text: str, prefix: str, values: tuple[str, ...], value: str
) -> ft.Dropdown:
    return choice(f"{prefix}-{name}", label_text, [(v, label(v)) for v in values], value)


class AgentFlightsScreen(Screen):
    title = "Flights"

    def build(self) -> ft.Control:
        p = "flights-filter"
        date = date_field("date", "Service date", p, on_submit=self._apply)
        self.date = DateInput(self.page, date)
        self.filters = Form(
            p,
            {
                "date": date,
                "origin": text_field(
                    "origin", "From", prefix=p, capitalization=ft.TextCapitalization.CHARACTERS
                ),
                "destination": text_field(
                    "destination", "To", prefix=p, capitalization=ft.TextCapitalization.CHARACTERS
                ),
                "flight_number": text_field(
                    "flight-number",
                    "Flight number",
                    prefix=p,
                    capitalization=ft.TextCapitalization.CHARACTERS,
                    on_submit=self._apply,
                ),
            },
        )
        self.busy = Busy(self.page, "flights-progress")
        self.apply_button = ft.FilledButton(
            "Show flights", icon=ft.Icons.FILTER_LIST, on_click=self._apply
        )
        self.more = ft.TextButton("Load more", on_click=self._load_more)
        self.list = ft.Column(spacing=6)
        self.more_control = ident("flights-more", self.more)
        self.more_control.visible = False
        self.flights: dict[str, dict[str, Any]] = {}
        self.cursor: str | None = None
        new = ft.FilledTonalButton("New flight", icon=ft.Icons.ADD, on_click=self._new_flight)
        f = self.filters.control
        return ft.Column(
            [
                ft.Row(
                    [heading("Flights", "flights-heading"), ident("flights-new", new)], wrap=True
                ),
                responsive(f("date"), f("origin"), f("destination"), f("flight_number"), desktop=3),
                self.filters.error_control,
                ft.Row([ident("flights-apply", self.apply_button), self.busy.control]),
                ident("flights-list", self.list),
                self.more_control,
            ],
            spacing=12,
        )

    async def start(self) -> None:
        await self._apply()

    def _params(self) -> dict[str, str | int | None]:
        value = self.filters.value
        return {
            "date": value("date"),
            "origin": value("origin").upper(),
            "destination": value("destination").upper(),
            "flight_number": value("flight_number").upper(),
            "limit": PAGE_SIZE,
        }

    async def _apply(self) -> None:
        self.filters.clear()
        self.flights, self.cursor = {}, None
        self.list.controls = []
        await self._load_more()

    async def _load_more(self) -> None:
        params = {**self._params(), "cursor": self.cursor}
        async with self.busy.running(self.apply_button, self.more):
            try:
                page = await self.api.flights(params)
            except ApiError as error:
                self.filters.show(error)
                return
        for flight in page.get("items", []):
            self.flights[flight["id"]] = flight
            self.list.controls.append(self._row(flight))
        self.cursor = page.get("next_cursor")
        self.more_control.visible = self.cursor is not None
        if not self.flights:
            self.list.controls = [ft.Text("No flights match these filters.")]
        self.page.update()

    def _row(self, flight: dict[str, Any]) -> ft.Control:
        key = f"{flight['flight_number']}-{flight['service_date']}"
        seats = ", ".join(
            f"{label(c)} {n} free" for c, n in flight.get("seats_available", {}).items()
        )
        fares = ", ".join(
            f"{label(c)} {money(v['fare'])}" for c, v in flight.get("cabins", {}).items()
        )
        buttons: list[ft.Control] = [
            ident(
                f"flight-{key}-status-button",
                ft.FilledTonalButton(
                    "Status", icon=ft.Icons.SCHEDULE, data=flight["id"], on_click=self._status
                ),
            ),
            ident(
                f"flight-{key}-edit",
                ft.TextButton("Edit", icon=ft.Icons.EDIT, data=flight["id"], on_click=self._edit),
            ),
            ident(
                f"flight-{key}-cancel",
                ft.TextButton(
                    "Cancel", icon=ft.Icons.CANCEL, data=flight["id"], on_click=self._cancel
                ),
            ),
        ]
        body = ft.Column(
            [
                ft.Row(
                    [
                        ft.Text(leg(flight), weight=ft.FontWeight.BOLD),
                        status_badge(flight["status"], f"flight-{key}-status"),
                    ],
                    wrap=True,
                ),
                ft.Text(
                    f"{local_date_time(flight['departure_time'])}{TO}"
                    f"{local_time(flight['arrival_time'])} · "
                    f"{flight.get('aircraft') or 'aircraft not set'}"
                ),
                ft.Text(f"{seats} · {fares}", size=12),
                ft.Row(buttons, wrap=True),
            ],
            spacing=4,
        )
        return ident(f"flight-{key}", ft.Card(ft.Container(body, padding=12)))

    async def _refresh_flight(self, flight_id: str) -> None:
        await self._apply()
        self.page.update()

    # --- status, delay, gate ------------------------------------------------------------

    async def _status(self, event: ft.Event[Any]) -> None:
        flight = self.flights[str(event.control.data)]
        p = "status"
        form = Form(
            p,
            {
                "status": _dropdown("status", "Status", p, STATUSES, flight["status"]),
                "delay_minutes": text_field(
                    "delay", "Delay (minutes)", prefix=p, keyboard_type=ft.KeyboardType.NUMBER
                ),
                "gate": text_field("gate", "Gate", prefix=p),
                "terminal": text_field("terminal", "Terminal", prefix=p),
                "diverted_to": text_field("diverted-to", "Diverted to (IATA)", prefix=p),
                "remark": text_field("remark", "Remark for passengers", prefix=p),
            },
        )

        async def submit() -> None:
            body: dict[str, Any] = {"status": form.value("status")}
            for name in ("delay_minutes", "gate", "terminal", "diverted_to", "remark"):
                if form.value(name):
                    body[name] = form.value(name)
            await self.api.set_flight_status(flight["id"], body)
            await self._refresh_flight(flight["id"])

        c = form.control
        body = [
            c("status"),
            responsive(c("delay_minutes"), c("gate"), c("terminal"), desktop=4),
            c("diverted_to"),
            c("remark"),
        ]
        title = f"Status of {flight['flight_number']} on {flight['service_date']}"
        FormDialog(
            self.page,
            "status-dialog",
            title,
            form,
            body,
            submit_label="Update status",
            on_submit=submit,
        ).open()

    # --- create, edit, cancel -----------------------------------------------------------

    async def _new_flight(self) -> None:
        p = "new-flight"
        origin = AirportField(self.api, "origin", "From", prefix=p)
        destination = AirportField(self.api, "destination", "To", prefix=p)
        times = plain_fields(p, NEW_FLIGHT_TIMES)
        for field in times.values():
            field.hint_text = "2026-12-24 08:30"
        fields = {"flight_number": flight_number_field(p), "origin": origin.field,
                  "destination": destination.field, **times,
                  "aircraft": text_field("aircraft", "Aircraft (e.g. 789)", prefix=p),
                  **cabin_fields(p)}  # fmt: skip
        form = Form(p, fields)

        async def submit() -> None:
            body = {
                "flight_number": form.value("flight_number"),
                "origin": origin.code,
                "destination": destination.code,
                "departure_time": instant_or_invalid(
                    "departure_time", form.value("departure_time"), await origin.timezone()
                ),
                "arrival_time": instant_or_invalid(
                    "arrival_time", form.value("arrival_time"), await destination.timezone()
                ),
                "cabins": cabins_body(form),
            }
            if form.value("aircraft"):
                body["aircraft"] = form.value("aircraft")
            await self.api.create_flight(body)
            await self._apply()

        c = form.control
        body = [c("flight_number"), responsive(origin.control, destination.control),
                responsive(c("departure_time"), c("arrival_time")), c("aircraft"),
                *cabin_rows(form)]  # fmt: skip
        FormDialog(self.page, "new-flight-dialog", "New flight", form, body,
                   submit_label="Create flight", on_submit=submit).open()  # fmt: skip

    async def _edit(self, event: ft.Event[Any]) -> None:
        flight = self.flights[str(event.control.data)]
        p = "edit-flight"
        times = ("departure_time", "arrival_time")
        wall_clock = {key: flight[key][:16].replace("T", " ") for key in times}
        form = Form(p, plain_fields(p, (
            ("departure_time", "departure", f"Departure (local at {flight['origin']})",
             wall_clock["departure_time"]),
            ("arrival_time", "arrival", f"Arrival (local at {flight['destination']})",
             wall_clock["arrival_time"]),
            ("aircraft", "aircraft", "Aircraft", flight.get("aircraft") or ""),
        )))  # fmt: skip

        async def submit() -> None:
            departs, arrives = form.value("departure_time"), form.value("arrival_time")
            body: dict[str, Any] = {
                "departure_time": instant_or_invalid(
                    "departure_time", departs, await zone_of(self, flight["origin"])
                ),
                "arrival_time": instant_or_invalid(
                    "arrival_time", arrives, await zone_of(self, flight["destination"])
                ),
            }
            if form.value("aircraft"):
                body["aircraft"] = form.value("aircraft")
            await self.api.update_flight(flight["id"], body)
            await self._refresh_flight(flight["id"])

        body = [form.control(name) for name in form.fields]
        title = f"Edit {flight['flight_number']}"
        FormDialog(self.page, "edit-flight-dialog", title, form, body, submit_label="Save",
                   on_submit=submit).open()  # fmt: skip

    async def _cancel(self, event: ft.Event[Any]) -> None:
        flight = self.flights[str(event.control.data)]
        form = Form("cancel-flight", {})

        async def submit() -> None:
            result = await self.api.delete_flight(flight["id"])
            if isinstance(result, dict) and result.get("affected_bookings") is not None:
                self.report(
                    ApiError(
                        200,
                        "cancelled",
                        f"Flight cancelled; "
                        f"{result['affected_bookings']} booking(s) refunded and notified",
                    )
                )
            await self._apply()
            self.page.update()

        text = ft.Text(
            "With seats sold the flight is cancelled, its passengers notified and "
            "refunded; without, it is removed."
        )
        FormDialog(
            self.page,
            "cancel-flight-dialog",
            f"Cancel {flight['flight_number']} on {flight['service_date']}?",
            form,
            [text],
            submit_label="Cancel flight",
            on_submit=submit,
        ).open()
