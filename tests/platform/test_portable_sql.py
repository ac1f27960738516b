"""`seconds_between` on SQLite (platform/portable_sql.py): `unixepoch` where the library has it,
`strftime('%s', …)` before 3.38, the same whole seconds as Python's, on instants stored as the
`UTCDateTime` column stores them."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import column, select
from sqlalchemy.dialects import sqlite

from flightdeck.platform.db import UTCDateTime
from flightdeck.platform.portable_sql import seconds_between, sqlite_epoch_seconds

START = datetime(2026, 3, 29, 0, 59, 59, 999_000, tzinfo=UTC)  # a DST change in Europe
GAPS = [
    timedelta(0),
    timedelta(milliseconds=1),  # into the next second
    timedelta(minutes=45, milliseconds=500),
    timedelta(hours=26, seconds=7),
    -timedelta(hours=3, milliseconds=1),  # earlier: negative
]


def _stored(instant: datetime) -> str:
    stored = UTCDateTime().bind_processor(sqlite.dialect())(instant)
    assert isinstance(stored, str) and stored.endswith(f".{instant.microsecond:06d}")
    return stored


def _whole_seconds(start: datetime, end: datetime) -> int:
    return int(end.timestamp() // 1) - int(start.timestamp() // 1)


def _difference(conn: sqlite3.Connection, epoch: str, start: datetime, end: datetime) -> int:
    sql = f"SELECT {epoch.format('?')} - {epoch.format('?')}"
    (found,) = conn.execute(sql, (_stored(end), _stored(start))).fetchone()
    assert isinstance(found, int)
    return found


@pytest.mark.parametrize("version", [(3, 37, 2), sqlite3.sqlite_version_info])
def test_both_spellings_count_the_whole_seconds_python_does(version: tuple[int, int, int]) -> None:
    epoch = sqlite_epoch_seconds(version)
    with sqlite3.connect(":memory:") as conn:
        for gap in GAPS:
            found = _difference(conn, epoch, START, START + gap)
            assert found == _whole_seconds(START, START + gap), (gap, epoch)


def test_both_spellings_agree_to_the_microsecond() -> None:
    """SQLite reads an instant to the millisecond (59.9995 s is the next second) in both
    spellings: the faster one changes no answer."""
    old = sqlite_epoch_seconds((3, 37, 2))
    new = sqlite_epoch_seconds(sqlite3.sqlite_version_info)
    instants = [START + timedelta(microseconds=n) for n in (0, 499, 500, 999, 1_000, 1_001)]
    with sqlite3.connect(":memory:") as conn:
        for start in instants:
            for end in (*instants, START + timedelta(hours=5, microseconds=999_999)):
                assert _difference(conn, new, start, end) == _difference(conn, old, start, end)


def test_the_compiled_form_is_the_library_s_own() -> None:
    statement = select(seconds_between(column("a", UTCDateTime()), column("b", UTCDateTime())))
    sql = str(statement.compile(dialect=sqlite.dialect()))
    expected = "unixepoch(b)" if sqlite3.sqlite_version_info >= (3, 38) else "strftime('%s', b)"
    assert expected in sql
