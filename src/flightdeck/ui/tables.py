"""Rows of whatever the admin API returns shown as a table: columns from the rows' keys,
money and instants written for people."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import flet as ft

from flightdeck.ui.formatting import label, local_date_time, money

MAX_COLUMNS = 9
INSTANT = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}")
HIDDEN_COLUMNS = {"id", "user_id", "schedule_id", "flight_id", "booking_id"}
# Measures that are shares of one (shown as percentages); other decimals are plain numbers
# (an average delay of 0.5 minutes is not 50 %).
SHARE_COLUMNS = {"load_factor", "seat_factor", "d15", "a15"}
# Decimals kept for measures this small (revenue in minor units per passenger-km).
FINE_COLUMNS = {"yield_per_rpk": 6}


# Measures airlines write in capitals.
COLUMN_LABELS = {
    "rpk": "RPK",
    "ask": "ASK",
    "yield_per_rpk": "Yield per RPK",
    "d15": "D15",
    "a15": "A15",
    "p90_delay_minutes": "P90 delay minutes",
}


def column_label(column: str) -> str:
    return COLUMN_LABELS.get(column) or label(column)


def is_money(value: Any) -> bool:
    return isinstance(value, Mapping) and "amount" in value and "currency" in value


def cell_text(value: Any, column: str | None = None) -> str:
    """`value` written for people; `column` (the field's name) says how to write a decimal."""
    if value is None:
        return "—"
    if is_money(value):
        return money(value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, str) and INSTANT.match(value):
        return local_date_time(value)  # in the offset the server gave (the airport's)
    if isinstance(value, float):
        if column in SHARE_COLUMNS:
            return f"{value:.1%}"
        return f"{value:,.{FINE_COLUMNS.get(column or '', 2)}f}"
    if isinstance(value, Mapping):
        return ", ".join(f"{k}: {cell_text(v, k)}" for k, v in value.items())
    if isinstance(value, Sequence) and not isinstance(value, str):
        return ", ".join(cell_text(v) for v in value)
    return str(value)


def columns_of(rows: Sequence[Mapping[str, Any]], preferred: Sequence[str] = ()) -> list[str]:
    """The keys worth a column: the preferred ones the rows have, else the rows' own keys in
    the server's order (ids left out when there is more)."""
    chosen = [key for key in preferred if any(key in row for row in rows[:20])]
    if chosen:
        return chosen
    keys: list[str] = []
    for row in rows[:20]:
        for key in row:
            if key not in keys:
                keys.append(key)
    shown = [k for k in keys if k not in HIDDEN_COLUMNS] or keys
    return shown[:MAX_COLUMNS]


def data_table(
    identifier: str,
    rows: Sequence[Mapping[str, Any]],
    *,
    columns: Sequence[str] = (),
    action_for: Any = None,
) -> ft.Control:
    """A scrollable table; `action_for(row)` adds a last cell of controls for each row."""
    if not rows:
        return ident_text(identifier, "No records match.")
    shown = columns_of(rows, columns)
    table_columns = [ft.DataColumn(label=ft.Text(column_label(c))) for c in shown]
    if action_for is not None:
        table_columns.append(ft.DataColumn(label=ft.Text("")))
    table_rows = []
    for row in rows:
        cells = [ft.DataCell(ft.Text(cell_text(row.get(c), c), size=12)) for c in shown]
        if action_for is not None:
            cells.append(ft.DataCell(action_for(row)))
        table_rows.append(ft.DataRow(cells=cells))
    table = ft.DataTable(columns=table_columns, rows=table_rows, column_spacing=18)
    return ft.Semantics(
        identifier=identifier,
        content=ft.Row([table], scroll=ft.ScrollMode.AUTO),
    )


def ident_text(identifier: str, text: str) -> ft.Control:
    return ft.Semantics(identifier=identifier, content=ft.Text(text))
