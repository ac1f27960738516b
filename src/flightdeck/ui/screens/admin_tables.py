"""Admin records: every flight, booking, user and audit entry, with filters, paging and CSV."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import flet as ft

from flightdeck.ui.api import ApiError
from flightdeck.ui.dialogs import FormDialog
from flightdeck.ui.screens.base import Screen
from flightdeck.ui.tables import data_table
from flightdeck.ui.widgets import (
    Busy,
    Form,
    choice,
    heading,
    ident,
    responsive,
    snack,
    text_field,
)

PAGE_SIZE = 50
ROLES = ("passenger", "agent", "admin")


@dataclass(frozen=True)
class Table:
    name: str
    title: str
    filters: tuple[tuple[str, str], ...]  # (query parameter, label)
    columns: tuple[str, ...]  # shown first, when the rows have them
    csv: bool = True


TABLES = (
    Table(
        "flights",
        "Flights",
        (
            ("from", "From date"),
            ("to", "To date"),
            ("origin", "Origin"),
            ("destination", "Destination"),
            ("status", "Status"),
            ("flight_number", "Flight number"),
        ),
        (
            "flight_number",
            "service_date",
            "origin",
            "destination",
            "departure_time",
            "status",
            "delay_minutes",
            "capacity",
            "sold",
            "load_factor",
        ),
    ),
    Table(
        "bookings",
        "Bookings",
        (
            ("created_from", "Created from"),
            ("created_to", "Created to"),
            ("status", "Status"),
            ("flight_id", "Flight id"),
            ("pnr", "PNR"),
            ("email", "Owner e-mail"),
        ),
        (
            "pnr",
            "owner_email",
            "status",
            "cabin",
            "passengers",
            "total_price",
            "amount_paid",
            "amount_refunded",
            "created_at",
        ),
    ),
    Table(
        "users",
        "Users",
        (("role", "Role"), ("email", "E-mail"), ("active", "Active (true/false)")),
        ("email", "full_name", "role", "active", "created_at"),
    ),
    Table(
        "audit",
        "Audit log",
        (
            ("actor", "Actor"),
            ("entity", "Entity"),
            ("entity_id", "Entity id"),
            ("action", "Action"),
            ("from", "From"),
            ("to", "To"),
        ),
        (
            "occurred_at",
            "actor_role",
            "action",
            "entity",
            "entity_id",
            "client_ip",
            "before",
            "after",
        ),
    ),
)


class RecordsScreen(Screen):
    title = "Records"

    def build(self) -> ft.Control:
        self.table = TABLES[0]
        self.rows: list[dict[str, Any]] = []
        self.cursor: str | None = None
        self.chooser = ft.SegmentedButton(
            segments=[ft.Segment(value=t.name, label=t.title) for t in TABLES],
            selected=[self.table.name],
            on_change=self._table_changed,
        )
        self.filter_box = ft.Column()
        self.busy = Busy(self.page, "records-progress")
        self.show_button = ft.FilledButton("Show", icon=ft.Icons.FILTER_LIST, on_click=self._apply)
        self.csv_button = ft.OutlinedButton(
            "Download CSV", icon=ft.Icons.DOWNLOAD, on_click=self._csv
        )
        self.more = ft.TextButton("Load more", on_click=self._load_more)
        self.result = ft.Column()
        self.more_control = ident("records-more", self.more)
        self.more_control.visible = False
        self.csv_control = ident("records-csv", self.csv_button)
        self._build_filters()
        return ft.Column(
            [
                heading("Records", "records-heading"),
                ft.Row([ident("records-table", self.chooser)], scroll=ft.ScrollMode.AUTO),
                self.filter_box,
                ft.Row(
                    [
                        ident("records-show", self.show_button),
                        self.csv_control,
                        self.busy.control,
                    ],
                    wrap=True,
                ),
                self.result,
                self.more_control,
            ],
            spacing=12,
        )

    def _build_filters(self) -> None:
        prefix = f"records-{self.table.name}"
        self.form = Form(
            prefix,
            {
                key: text_field(key.replace("_", "-"), text, prefix=prefix, on_submit=self._apply)
                for key, text in self.table.filters
            },
        )
        self.filter_box.controls = [
            responsive(*(self.form.control(k) for k in self.form.fields), desktop=4),
            self.form.error_control,
        ]
        self.csv_control.visible = self.table.csv

    async def start(self) -> None:
        await self._apply()

    async def _table_changed(self) -> None:
        self.table = next(t for t in TABLES if t.name == self.chooser.selected[0])
        self._build_filters()
        await self._apply()

    def _params(self) -> dict[str, str | int | None]:
        return {key: self.form.value(key) for key in self.form.fields}

    async def _apply(self) -> None:
        self.rows, self.cursor = [], None
        await self._load_more()

    async def _load_more(self) -> None:
        self.form.clear()
        params = {**self._params(), "limit": PAGE_SIZE, "cursor": self.cursor}
        async with self.busy.running(self.show_button, self.more):
            try:
                page = await self.api.admin_list(self.table.name, params)
            except ApiError as error:
                self.form.show(error)
                return
        self.rows += page.get("items", [])
        self.cursor = page.get("next_cursor")
        self.more_control.visible = self.cursor is not None
        action = self._user_actions if self.table.name == "users" else None
        self.result.controls = [
            data_table(
                f"records-{self.table.name}-rows",
                self.rows,
                columns=self.table.columns,
                action_for=action,
            )
        ]
        self.page.update()

    async def _csv(self) -> None:
        async with self.busy.running(self.csv_button):
            try:
                data = await self.api.admin_csv(self.table.name, self._params())
            except ApiError as error:
                self.form.show(error)
                return
        picker = ft.FilePicker()
        await picker.save_file(file_name=f"flightdeck-{self.table.name}.csv", src_bytes=data)
        rows = max(data.count(b"\n") - 1, 0)  # the header line is not a row
        snack(self.page, f"{self.table.title}: {rows} rows exported")

    def _user_actions(self, user: dict[str, Any]) -> ft.Control:
        edit = ft.TextButton("Edit", data=user, on_click=self._edit_user)
        return ident(f"user-{user.get('email', user.get('id'))}-edit", edit)

    async def _edit_user(self, event: ft.Event[Any]) -> None:
        user: dict[str, Any] = event.control.data
        p = "edit-user"
        role = choice(
            f"{p}-role", "Role", [(r, r.capitalize()) for r in ROLES], str(user.get("role"))
        )
        active = ft.Switch(label="Active", value=bool(user.get("active", True)))
        form = Form(p, {"role": role})

        async def submit() -> None:
            await self.api.admin_update_user(
                str(user["id"]), {"role": form.value("role"), "active": bool(active.value)}
            )
            await self._apply()

        FormDialog(
            self.page,
            "edit-user-dialog",
            f"Edit {user.get('email', '')}",
            form,
            [form.control("role"), ident(f"{p}-active", active)],
            submit_label="Save",
            on_submit=submit,
        ).open()
