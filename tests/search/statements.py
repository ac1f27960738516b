"""Watching the SQL a request runs."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from fastapi import FastAPI
from sqlalchemy import event


@contextmanager
def captured_selects(app: FastAPI) -> Iterator[list[tuple[str, Any]]]:
    """The SELECTs of flights and cabins (with their parameters) run inside the block; other
    tables are left out (the outbox relay polls in the background)."""
    statements: list[tuple[str, Any]] = []

    def capture(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT") and "FROM flight" in statement:
            statements.append((statement, parameters))

    engine = app.state.engine.sync_engine
    event.listen(engine, "before_cursor_execute", capture)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", capture)


def flight_searches(statements: list[tuple[str, Any]]) -> list[str]:
    """The statements that search flights by departure window (not background work reading
    one flight by id, such as the notification handlers)."""
    return [statement for statement, _ in statements if "flights.departure_at >=" in statement]
