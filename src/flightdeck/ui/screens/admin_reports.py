"""Airline reports (`GET /admin/reports`): revenue over time, load factor by route, on-time
share and cancellations, as charts (flet-charts) with their rows and totals."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from typing import Any

import flet as ft
import flet_charts as fch

from flightdeck.ui.api import ApiError
from flightdeck.ui.formatting import label
from flightdeck.ui.screens.admin_tables import csv_rows, offer_download
from flightdeck.ui.screens.base import Screen
from flightdeck.ui.screens.search import DateInput, date_field
from flightdeck.ui.tables import cell_text, column_label, data_table, is_money
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

REPORTS = ("revenue", "occupancy", "on_time", "cancellations")
GROUPINGS = ("day", "week", "month", "route", "flight", "cabin")
TIME_GROUPINGS = {"day", "week", "month"}
DEFAULT_GROUPING = {
    "revenue": "day",
    "occupancy": "route",
    "on_time": "route",
    "cancellations": "day",
}
# The measure each report charts first, when its rows carry it.
PREFERRED_MEASURES = {
    "revenue": ("revenue", "captured"),
    "occupancy": ("load_factor", "seat_factor", "seats_sold"),
    "on_time": ("d15", "a15", "average_delay_minutes"),
    "cancellations": ("flights_cancelled", "bookings_cancelled_by_passenger"),
}
CHART_HEIGHT = 260
# The report's errors that concern one field but name none (the server decides which reports
# group which way; the app shows its message by the field).
REPORT_ERROR_FIELDS = {"unsupported_grouping": "group_by", "period_too_long": "to"}


def number_of(value: Any) -> float | None:
    if is_money(value):
        return float(value["amount"]) / 100
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def group_key(rows: Sequence[Mapping[str, Any]], grouping: str) -> str | None:
    """The column naming each row's group (the grouping itself, else the first text column)."""
    if not rows:
        return None
    first = rows[0]
    if grouping in first:
        return grouping
    return next((k for k, v in first.items() if isinstance(v, str)), None)


def measure_key(rows: Sequence[Mapping[str, Any]], report: str) -> str | None:
    if not rows:
        return None
    first = rows[0]
    for key in PREFERRED_MEASURES.get(report, ()):
        if key in first and number_of(first[key]) is not None:
            return key
    return next((k for k, v in first.items() if number_of(v) is not None), None)


def round_up(value: float) -> float:
    """A round top for an axis (1, 2, 2.5 or 5 times a power of ten), so its last label
    reads like the others."""
    if value <= 0:
        return 1.0
    power = 10.0 ** math.floor(math.log10(value))
    return next(step * power for step in (1, 2, 2.5, 5, 10) if step * power >= value)


def one_currency(rows: Sequence[Mapping[str, Any]]) -> tuple[list[Mapping[str, Any]], str]:
    """The rows a chart can put on one axis: revenue comes one row per group and currency,
    so only the first row's currency is charted (the table and totals show every one)."""
    currency = str(rows[0].get("currency") or "") if rows else ""
    if not currency:
        return list(rows), ""
    return [row for row in rows if row.get("currency") == currency], currency


def chart(
    rows: Sequence[Mapping[str, Any]], group: str, measure: str, over_time: bool
) -> ft.Control:
    """A line over time (day, week, month), else bars by group (route, flight, cabin)."""
    values = [number_of(row.get(measure)) or 0.0 for row in rows]
    names = [str(row.get(group, i)) for i, row in enumerate(rows)]
    step = max(1, len(names) // 8)  # at most ~8 labels on the axis
    labels = [
        fch.ChartAxisLabel(value=i, label=ft.Text(name[-10:], size=10))
        for i, name in enumerate(names)
        if i % step == 0
    ]
    axes = {
        "bottom_axis": fch.ChartAxis(labels=labels, label_size=28),
        "left_axis": fch.ChartAxis(label_size=48),
        "max_y": round_up(max(values, default=0) * 1.1),
        "height": CHART_HEIGHT,
        "expand": True,
    }
    tips = [f"{name}: {value:,.2f}" for name, value in zip(names, values, strict=True)]
    if over_time and len(values) > 1:  # a line needs two points; one is a bar
        points = [fch.LineChartDataPoint(x=i, y=v, tooltip=tips[i]) for i, v in enumerate(values)]
        series = fch.LineChartData(
            points=points, color=ft.Colors.INDIGO, stroke_width=3, point=True
        )
        line: ft.Control = fch.LineChart(
            data_series=[series], min_y=0, min_x=0, max_x=max(len(values) - 1, 1), **axes
        )
        return line
    rods = [
        fch.BarChartRod(to_y=v, width=18, color=ft.Colors.INDIGO, tooltip=tips[i])
        for i, v in enumerate(values)
    ]
    groups = [fch.BarChartGroup(x=i, rods=[rod]) for i, rod in enumerate(rods)]
    bars: ft.Control = fch.BarChart(groups=groups, **axes)
    return bars


def totals_controls(totals: Any) -> list[ft.Control]:
    """The totals: one row (one per currency for revenue), or a mapping of them."""
    rows = [totals] if isinstance(totals, Mapping) else list(totals or [])
    shown: list[ft.Control] = []
    for index, row in enumerate(rows):
        suffix = f"-{index}" if index else ""
        for key, value in row.items():
            if key == "key" or isinstance(value, str):
                continue
            figure = ft.Column(
                [
                    ft.Text(column_label(key), size=12),
                    ft.Text(cell_text(value, key), size=18, weight=ft.FontWeight.BOLD),
                ],
                spacing=0,
            )
            shown.append(ident(f"report-total-{key}{suffix}", figure))
    return shown


class ReportsScreen(Screen):
    title = "Reports"

    def build(self) -> ft.Control:
        p = "report"
        today = dt.date.today()
        start = date_field("from", "From", p, value=(today - dt.timedelta(days=30)).isoformat())
        end = date_field("to", "To", p, value=(today + dt.timedelta(days=30)).isoformat())
        self.dates = (DateInput(self.page, start), DateInput(self.page, end))
        self.form = Form(
            p,
            {
                "type": choice(
                    f"{p}-type",
                    "Report",
                    [(r, label(r)) for r in REPORTS],
                    "revenue",
                    on_select=self._type_changed,
                ),
                "from": start,
                "to": end,
                "group_by": choice(
                    f"{p}-group-by", "Group by", [(g, label(g)) for g in GROUPINGS], "day"
                ),
                "currency": text_field(
                    "currency", "Currency (optional)", prefix=p, on_submit=self._show
                ),
            },
            code_fields=REPORT_ERROR_FIELDS,
        )
        self.busy = Busy(self.page, "report-progress")
        self.show_button = ft.FilledButton(
            "Show report", icon=ft.Icons.INSERT_CHART, on_click=self._show
        )
        self.csv_button = ft.OutlinedButton(
            "Download CSV", icon=ft.Icons.DOWNLOAD, on_click=self._csv
        )
        self.totals = ft.Row(wrap=True, spacing=16)
        self.chart_box = ft.Container()
        self.rows_box = ft.Column()
        c = self.form.control
        return ft.Column(
            [
                heading("Reports", "reports-heading"),
                responsive(c("type"), c("group_by"), c("from"), c("to"), c("currency"), desktop=4),
                self.form.error_control,
                ft.Row(
                    [
                        ident("report-show", self.show_button),
                        ident("report-csv", self.csv_button),
                        self.busy.control,
                    ],
                    wrap=True,
                ),
                ident("report-totals", self.totals),
                ident("report-chart", self.chart_box),
                self.rows_box,
            ],
            spacing=12,
        )

    async def start(self) -> None:
        await self._show()

    async def _type_changed(self) -> None:
        report = self.form.value("type")
        self.form.fields["group_by"].value = DEFAULT_GROUPING.get(report, "day")
        self.page.update()

    async def _show(self) -> None:
        form = self.form
        form.clear()
        params = {name: form.value(name) for name in form.fields}
        async with self.busy.running(self.show_button):
            try:
                report = await self.api.admin_report(params)
            except ApiError as error:
                form.show(error)
                return
        self._render(report, params["type"], params["group_by"])

    async def _csv(self) -> None:
        """The same report as CSV (rows, then the totals), for a spreadsheet."""
        form = self.form
        form.clear()
        params = {name: form.value(name) for name in form.fields}
        async with self.busy.running(self.csv_button):
            try:
                data = await self.api.admin_csv("reports", params)
            except ApiError as error:
                form.show(error)
                return
        name = f"flightdeck-{params['type']}-by-{params['group_by']}.csv"
        await offer_download(name, data)
        snack(self.page, f"{label(params['type'])}: {csv_rows(data)} rows exported")

    def _render(self, report: Mapping[str, Any], kind: str, grouping: str) -> None:
        # Each row's group (`key`) under the grouping's name: the column reads "Day", "Route".
        rows = [
            {grouping: row.get("key"), **{k: v for k, v in row.items() if k != "key"}}
            for row in report.get("rows", [])
        ]
        self.totals.controls = totals_controls(report.get("totals"))
        charted, currency = one_currency(rows)
        group, measure = group_key(charted, grouping), measure_key(charted, kind)
        if charted and group and measure:
            caption = f"{column_label(measure)} by {label(grouping)}"
            caption += f" ({currency})" if currency else ""
            self.chart_box.content = ft.Column(
                [
                    ft.Text(caption, weight=ft.FontWeight.BOLD),
                    chart(charted, group, measure, grouping in TIME_GROUPINGS),
                ]
            )
        else:
            self.chart_box.content = ft.Text("No rows in this period.")
        columns = list(rows[0]) if rows else []
        self.rows_box.controls = [data_table("report-rows", rows, columns=columns)]
        self.page.update()
