"""Recurring schedules (create, remove) and IATA SSIM import with the rejected lines shown."""

from __future__ import annotations

from typing import Any

import flet as ft

from flightdeck.ui.airport_field import AirportField
from flightdeck.ui.api import ApiError
from flightdeck.ui.dialogs import FormDialog
from flightdeck.ui.formatting import TO
from flightdeck.ui.screens.base import Screen
from flightdeck.ui.screens.staff_forms import (
    cabin_fields,
    cabin_rows,
    cabins_body,
    flight_number_field,
    plain_fields,
)
from flightdeck.ui.widgets import Busy, Form, heading, ident, responsive, snack

MAX_SSIM_BYTES = 5 * 1024 * 1024
SCHEDULE_FIELDS = (
    ("departure_local", "departure", "Departs (local HH:MM)", ""),
    ("arrival_local", "arrival", "Arrives (local HH:MM)", ""),
    ("arrival_day_offset", "day-offset", "Arrival day offset", "0"),
    ("days_of_week", "days", "Days (1=Mon … 7=Sun)", "1234567"),
    ("valid_from", "from", "Valid from (YYYY-MM-DD)", ""),
    ("valid_to", "to", "Valid to (YYYY-MM-DD)", ""),
    ("aircraft", "aircraft", "Aircraft", ""),
)
SCHEDULE_BODY = ("flight_number", *(name for name, *_ in SCHEDULE_FIELDS[:-1]))


class SchedulesScreen(Screen):
    title = "Schedules"

    def build(self) -> ft.Control:
        self.list = ft.Column(spacing=6)
        self.busy = Busy(self.page, "schedules-progress")
        self.report_box = ft.Column(spacing=4)
        self.ssim_text = ft.TextField(
            label="…or paste SSIM text", multiline=True, min_lines=3, max_lines=8, data="ssim-text"
        )
        self.import_busy = Busy(self.page, "ssim-progress")
        pick = ft.FilledTonalButton(
            "Import SSIM file", icon=ft.Icons.UPLOAD_FILE, on_click=self._pick_file
        )
        paste = ft.TextButton("Import pasted text", on_click=self._import_pasted)
        self.import_buttons = (pick, paste)
        new = ft.FilledTonalButton("New schedule", icon=ft.Icons.ADD, on_click=self._new_schedule)
        return ft.Column(
            [
                ft.Row(
                    [
                        heading("Schedules", "schedules-heading"),
                        ident("schedules-new", new),
                        self.busy.control,
                    ],
                    wrap=True,
                ),
                ident("schedules-list", self.list),
                heading("SSIM import"),
                ft.Row([ident("ssim-pick", pick), self.import_busy.control]),
                ident("ssim-text", self.ssim_text),
                ident("ssim-import-pasted", paste),
                ident("ssim-report", self.report_box),
            ],
            spacing=12,
        )

    async def start(self) -> None:
        await self.refresh()

    async def refresh(self) -> None:
        async with self.busy.running():
            page = await self.api.schedules({"limit": 50})
        items = page.get("items", [])
        self.list.controls = [self._row(i, s) for i, s in enumerate(items)] or [
            ft.Text("No schedules yet.")
        ]

    def _row(self, index: int, schedule: dict[str, Any]) -> ft.Control:
        remove = ft.TextButton(
            "Remove", icon=ft.Icons.DELETE, data=schedule["id"], on_click=self._remove
        )
        tile = ft.ListTile(
            title=ft.Text(
                f"{schedule['flight_number']} {schedule['origin']}{TO}{schedule['destination']} "
                f"{schedule['departure_local'][:5]}-{schedule['arrival_local'][:5]}"
            ),
            subtitle=ft.Text(
                f"Days {schedule['days_of_week']} · {schedule['valid_from']} to "
                f"{schedule['valid_to']} · {schedule.get('aircraft') or '—'}"
            ),
            trailing=ident(f"schedule-{index}-remove", remove),
        )
        return ident(f"schedule-{index}", ft.Card(tile))

    async def _remove(self, event: ft.Event[Any]) -> None:
        try:
            async with self.busy.running():
                result = await self.api.delete_schedule(str(event.control.data))
        except ApiError as error:
            self.report(error)
            return
        kept = len((result or {}).get("kept_flights", []))
        snack(self.page, f"Schedule removed{f'; {kept} booked flight(s) kept' if kept else ''}")
        await self.refresh()
        self.page.update()

    async def _new_schedule(self) -> None:
        p = "new-schedule"
        origin = AirportField(self.api, "origin", "From", prefix=p)
        destination = AirportField(self.api, "destination", "To", prefix=p)
        fields = {"flight_number": flight_number_field(p), "origin": origin.field,
                  "destination": destination.field, **plain_fields(p, SCHEDULE_FIELDS),
                  **cabin_fields(p)}  # fmt: skip
        form = Form(p, fields)

        async def submit() -> None:
            body: dict[str, Any] = {name: form.value(name) for name in SCHEDULE_BODY}
            body |= {"origin": origin.code, "destination": destination.code,
                     "cabins": cabins_body(form)}  # fmt: skip
            if form.value("aircraft"):
                body["aircraft"] = form.value("aircraft")
            created = await self.api.create_schedule(body)
            snack(self.page, f"Schedule created with {created.get('flights_created', 0)} flights")
            await self.refresh()
            self.page.update()

        c = form.control
        times = responsive(
            c("departure_local"), c("arrival_local"), c("arrival_day_offset"), desktop=4
        )
        body = [c("flight_number"), responsive(origin.control, destination.control), times,
                c("days_of_week"), responsive(c("valid_from"), c("valid_to")), c("aircraft"),
                *cabin_rows(form)]  # fmt: skip
        FormDialog(self.page, "new-schedule-dialog", "New schedule", form, body,
                   submit_label="Create schedule", on_submit=submit).open()  # fmt: skip

    async def _pick_file(self) -> None:
        picker = ft.FilePicker()
        files = await picker.pick_files(dialog_title="SSIM file", with_data=True)
        if files and files[0].bytes is not None:
            await self._import(files[0].name, files[0].bytes)

    async def _import_pasted(self) -> None:
        text = str(self.ssim_text.value or "")
        if text.strip():
            await self._import("pasted.ssim", text.encode())

    async def _import(self, name: str, content: bytes) -> None:
        if len(content) > MAX_SSIM_BYTES:
            snack(self.page, "An SSIM file of at most 5 MB")
            return
        async with self.import_busy.running(*self.import_buttons):
            try:
                result = await self.api.import_ssim(name, content)
            except ApiError as error:
                self._show_report(None, error)
                return
        self._show_report(result, None)
        await self.refresh()
        self.page.update()

    def _show_report(self, result: dict[str, Any] | None, error: ApiError | None) -> None:
        if error is not None:
            rejected = error.details.get("rejected") or []
            lines: list[ft.Control] = [ft.Text(error.message, color=ft.Colors.ERROR)]
        else:
            assert result is not None
            rejected = result.get("rejected") or []
            lines = [
                ident(
                    "ssim-counts",
                    ft.Text(
                        f"{result['schedules_created']} schedule(s) and "
                        f"{result['flights_created']} flight(s) created; "
                        f"{result.get('schedules_skipped', 0)} schedule(s) already held; "
                        f"{len(rejected)} line(s) rejected."
                    ),
                )
            ]
        lines += [
            ident(
                f"ssim-rejected-{i}",
                ft.Text(f"Line {r.get('line_number')}: {r.get('reason')}", size=12),
            )
            for i, r in enumerate(rejected)
        ]
        self.report_box.controls = lines
        self.page.update()
