"""Admin records: every flight, booking, user and audit entry, with filters, paging and CSV."""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import flet as ft

from flightdeck.ui.api import ApiError
from flightdeck.ui.dialogs import FormDialog
from flightdeck.ui.formatting import label
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
FLIGHT_STATUSES = (
    "scheduled",
    "on_time",
    "delayed",
    "boarding",
    "departed",
    "arrived",
    "cancelled",
    "diverted",
)
BOOKING_STATUSES = ("pending_payment", "confirmed", "cancelled", "expired")
ANY = "any"  # a drop-down's "no filter" (sent as nothing)


@dataclass(frozen=True)
class Filter:
    """A query parameter of a listing: typed text, or one of `options` (plus "Any")."""

    name: str
    label: str
    options: tuple[tuple[str, str], ...] = ()
    hint: str | None = None


def pick(name: str, text: str, values: Sequence[str]) -> Filter:
    return Filter(name, text, tuple((v, label(v)) for v in values))


def day(name: str, text: str) -> Filter:
    return Filter(name, text, hint="YYYY-MM-DD")


@dataclass(frozen=True)
class Table:
    name: str
    title: str
    filters: tuple[Filter, ...]
    columns: tuple[str, ...]  # shown first, when the rows have them
    csv: bool = True
    # Filters the API takes as instants (`from` included, `to` excluded) that the form asks
    # for as dates: a date is sent as that day's start in UTC (for `to`, the next day's).
    instant_filters: tuple[str, ...] = ()


TABLES = (
    Table(
        "flights",
        "Flights",
        (
            day("from", "From date (local)"),
            day("to", "To date (local)"),
            Filter("route", "Route", hint="JFK-LHR"),
            Filter("origin", "Origin"),
            Filter("destination", "Destination"),
            pick("status", "Status", FLIGHT_STATUSES),
            Filter("flight_number", "Flight number"),
            Filter("schedule_id", "Schedule id"),
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
            "cabins",
        ),
    ),
    Table(
        "bookings",
        "Bookings",
        (
            day("created_from", "Created from"),
            day("created_to", "Created to"),
            pick("status", "Status", BOOKING_STATUSES),
            Filter("flight_id", "Flight id"),
            Filter("pnr", "PNR"),
            Filter("email", "Owner e-mail"),
        ),
        (
            "pnr",
            "owner_email",
            "status",
            "cabin",
            "passengers",
            "segments",
            "total_price",
            "amount_paid",
            "amount_refunded",
            "created_at",
        ),
    ),
    Table(
        "users",
        "Users",
        (
            pick("role", "Role", ROLES),
            Filter("email", "E-mail"),
            Filter("active", "Active", (("true", "Active"), ("false", "Deactivated"))),
        ),
        ("email", "full_name", "role", "active", "created_at"),
    ),
    Table(
        "audit",
        "Audit log",
        (
            Filter("actor_email", "Actor (e-mail)"),
            Filter("entity", "Entity", hint="flight, user, booking, ..."),
            Filter("entity_id", "Entity id"),
            Filter("action", "Action", hint="create, update, delete, ..."),
            day("from", "From date (UTC)"),
            day("to", "To date (UTC)"),
        ),
        (
            "occurred_at",
            "actor_email",
            "actor_role",
            "client_ip",
            "action",
            "entity",
            "entity_id",
            "before",
            "after",
        ),
        instant_filters=("from", "to"),
    ),
)


def as_instant(name: str, value: str) -> str:
    """A date typed for an instant filter → the instant the API takes (anything else, e.g. a
    full instant, goes as typed and the server judges it)."""
    try:
        when = dt.date.fromisoformat(value)
    except ValueError:
        return value
    if name == "to":  # excluded by the API: up to the end of the day typed
        when += dt.timedelta(days=1)
    return f"{when.isoformat()}T00:00:00Z"


def csv_rows(data: bytes) -> int:
    """Records in a CSV download (its header line is not one; a field may hold a newline)."""
    return max(len(list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))) - 1, 0)


async def offer_download(file_name: str, data: bytes) -> None:
    """The browser's download of `data` (a save dialog on a desktop or phone); the picker
    registers itself with the session's page."""
    await ft.FilePicker().save_file(file_name=file_name, src_bytes=data)


def filter_field(table: Table, spec: Filter, on_submit: Any) -> ft.TextField | ft.Dropdown:
    identifier = f"records-{table.name}-{spec.name.replace('_', '-')}"
    if spec.options:
        return choice(identifier, spec.label, [(ANY, "Any"), *spec.options], ANY)
    return text_field(
        spec.name.replace("_", "-"),
        spec.label,
        prefix=f"records-{table.name}",
        hint=spec.hint,
        on_submit=on_submit,
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
        self.form = Form(
            f"records-{self.table.name}",
            {f.name: filter_field(self.table, f, self._apply) for f in self.table.filters},
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
        params: dict[str, str | int | None] = {}
        for key in self.form.fields:
            value = self.form.value(key)
            if value and value != ANY:
                instant = key in self.table.instant_filters
                params[key] = as_instant(key, value) if instant else value
        return params

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
        await offer_download(f"flightdeck-{self.table.name}.csv", data)
        snack(self.page, f"{self.table.title}: {csv_rows(data)} rows exported")

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
            changed = await self.api.admin_update_user(
                str(user["id"]), {"role": form.value("role"), "active": bool(active.value)}
            )
            snack(self.page, f"{changed.get('email', 'User')}: saved")
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
