"""Dates truncated to the start of their week or month, in SQL, the same on SQLite and
PostgreSQL: for reports that GROUP BY week or month in the database.

Both take a DATE column (a local service date, never an instant, so no time zone is involved)
and return a DATE: the Monday of its ISO week, or the first day of its month.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Date
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement


class week_start(FunctionElement[Any]):  # noqa: N801 - reads like the SQL function it is
    """The Monday of the date's ISO week."""

    type = Date()
    inherit_cache = True


class month_start(FunctionElement[Any]):  # noqa: N801
    """The first day of the date's month."""

    type = Date()
    inherit_cache = True


@compiles(week_start, "sqlite")
def _week_start_sqlite(element: week_start, compiler: SQLCompiler, **kw: Any) -> str:
    # 'weekday 0' moves forward to the next Sunday (or stays on one); six days back is Monday.
    return f"date({compiler.process(element.clauses, **kw)}, 'weekday 0', '-6 days')"


@compiles(week_start, "postgresql")
def _week_start_postgresql(element: week_start, compiler: SQLCompiler, **kw: Any) -> str:
    # Through TIMESTAMP (no zone): date_trunc on a timestamptz would depend on the session's.
    arg = compiler.process(element.clauses, **kw)
    return f"CAST(date_trunc('week', CAST({arg} AS TIMESTAMP)) AS DATE)"


@compiles(month_start, "sqlite")
def _month_start_sqlite(element: month_start, compiler: SQLCompiler, **kw: Any) -> str:
    return f"date({compiler.process(element.clauses, **kw)}, 'start of month')"


@compiles(month_start, "postgresql")
def _month_start_postgresql(element: month_start, compiler: SQLCompiler, **kw: Any) -> str:
    arg = compiler.process(element.clauses, **kw)
    return f"CAST(date_trunc('month', CAST({arg} AS TIMESTAMP)) AS DATE)"
