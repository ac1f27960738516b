"""Watching the SQL a search runs."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from fastapi import FastAPI

from tests.statements import Statement, statements_sent


@contextmanager
def captured_selects(app: FastAPI) -> Iterator[list[Statement]]:
    """The SELECTs of flights and cabins (with their parameters) the test's requests run
    inside the block; statements on other tables are left out (read them after the block)."""
    with statements_sent(app) as statements:
        yield statements
    statements[:] = [
        (sql, parameters)
        for sql, parameters in statements
        if sql.lstrip().upper().startswith("SELECT") and "FROM flight" in sql
    ]


def flight_searches(statements: list[Statement]) -> list[str]:
    """The statements that search flights by departure window (not reads of one flight by
    id)."""
    return [statement for statement, _ in statements if "flights.departure_at >=" in statement]


def sql_literal(value: Any) -> str:
    """A parameter as SQL (ours: numbers, codes without quotes, instants, arrays of codes)."""
    if isinstance(value, datetime):
        return f"'{value.isoformat()}'"
    if isinstance(value, list):
        return "'{" + ",".join(value) + "}'"
    return f"'{value}'" if isinstance(value, str) else str(value)
