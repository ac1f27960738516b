"""Watching the SQL a test's own requests send (SQLAlchemy's `before_cursor_execute`).

Only statements sent from the calling task's context are kept: a request made through the
test client runs in it (SQLAlchemy's greenlets too), while background work (the outbox relay,
event handlers of earlier requests) runs in tasks of its own and is left out.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from fastapi import FastAPI
from sqlalchemy import event

Statement = tuple[str, Any]  # SQL text, its parameters

_WATCHING: contextvars.ContextVar[list[Statement] | None] = contextvars.ContextVar(
    "watching_statements", default=None
)


def _record(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
    statements = _WATCHING.get()
    if statements is not None:
        statements.append((statement, parameters))


@contextmanager
def statements_sent(app: FastAPI) -> Iterator[list[Statement]]:
    """The statements (with their parameters) the calling task sends to the app's database
    while the block runs. BEGIN and COMMIT are not cursor executions, so not among them."""
    statements: list[Statement] = []
    engine = app.state.engine.sync_engine
    event.listen(engine, "before_cursor_execute", _record)
    token = _WATCHING.set(statements)
    try:
        yield statements
    finally:
        _WATCHING.reset(token)
        event.remove(engine, "before_cursor_execute", _record)
