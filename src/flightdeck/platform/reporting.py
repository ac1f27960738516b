"""What the reports of every domain share: the period (local service dates), the grouping,
and how a group's key is computed in SQL and written as text.

Each domain aggregates its own tables with GROUP BY (never by loading rows into Python) and
returns rows keyed by `group_key(...)`, so the admin domain can put the figures of several
owners side by side by key. Keys: day `2026-03-04`, week `2026-03-02` (its Monday, ISO
weeks), month `2026-03`, route `JFK-LHR`, flight `FD101`, cabin `economy`; the totals row's
key is `total`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, Literal

from sqlalchemy import ColumnElement, SQLColumnExpression, text
from sqlalchemy.ext.asyncio import AsyncSession

from flightdeck.platform.sql_dates import month_start, week_start

GroupBy = Literal["day", "week", "month", "route", "flight", "cabin"]
GROUP_BYS: tuple[GroupBy, ...] = ("day", "week", "month", "route", "flight", "cabin")
TOTAL_KEY = "total"


@dataclass(frozen=True)
class ReportPeriod:
    """Local service dates (at the flight's origin), both ends included."""

    date_from: date
    date_to: date


@dataclass(frozen=True)
class GroupColumns:
    """The columns a domain's tables offer for grouping."""

    service_date: SQLColumnExpression[Any]
    origin: SQLColumnExpression[Any]
    destination: SQLColumnExpression[Any]
    flight_number: SQLColumnExpression[Any]
    cabin: SQLColumnExpression[Any] | None = None


def group_columns(group_by: GroupBy | None, columns: GroupColumns) -> list[ColumnElement[Any]]:
    """The GROUP BY expressions of a grouping (none for the totals), labelled g0, g1, …"""
    if group_by is None:
        return []
    chosen: list[SQLColumnExpression[Any]]
    if group_by == "day":
        chosen = [columns.service_date]
    elif group_by == "week":
        chosen = [week_start(columns.service_date)]
    elif group_by == "month":
        chosen = [month_start(columns.service_date)]
    elif group_by == "route":
        chosen = [columns.origin, columns.destination]
    elif group_by == "flight":
        chosen = [columns.flight_number]
    else:
        if columns.cabin is None:
            raise ValueError("these figures cannot be grouped by cabin")
        chosen = [columns.cabin]
    return [column.label(f"g{i}") for i, column in enumerate(chosen)]


def group_key(group_by: GroupBy | None, values: Sequence[Any]) -> str:
    """The text key of a group from the values of its `group_columns`."""
    if group_by is None:
        return TOTAL_KEY
    if group_by == "route":
        return f"{values[0]}-{values[1]}"
    value = values[0]
    if isinstance(value, str) and group_by in ("day", "week", "month"):
        value = date.fromisoformat(value)  # SQLite hands back text where the type is lost
    if group_by == "month":
        return f"{value:%Y-%m}"
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


# Dates a report or a listing may ask for: wide enough for any airline's history and plans,
# narrow enough that the time-zone arithmetic around them cannot overflow.
EARLIEST_REPORT_DATE = date(2000, 1, 1)
LATEST_REPORT_DATE = date(2099, 12, 31)

# Memory a report's sorts and hashes may use on PostgreSQL before spilling to disk (the
# server's default, 4 MB, sends a month of COUNT(DISTINCT …) to an external merge).
REPORT_WORK_MEM = "64MB"


async def prepare_report_transaction(session: AsyncSession) -> None:
    """Tunes the request's transaction for the aggregates of a report (PostgreSQL only; the
    setting ends with the transaction)."""
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(text(f"SET LOCAL work_mem = '{REPORT_WORK_MEM}'"))
