"""CSV downloads streamed in constant memory: rows are written as they come, a batch at a
time, never collected first.

Cells are quoted by the `csv` module (commas, quotes and line breaks round-trip). A text cell
that a spreadsheet would run as a formula (starting with `=`, `+`, `-`, `@`, tab or carriage
return) is prefixed with `'` (OWASP, CSV injection); numbers are written as they are.
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterable, AsyncIterator, Mapping, Sequence
from datetime import date, datetime
from typing import Any

from fastapi.responses import StreamingResponse

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
ROWS_PER_CHUNK = 500


def csv_cell(value: Any) -> str:
    """How one value is written in a cell."""
    if isinstance(value, str):
        return "'" + value if value.startswith(FORMULA_STARTS) else value
    if value is None:
        return ""
    if value is True or value is False:
        return "true" if value else "false"
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


async def csv_chunks(
    columns: Sequence[str], rows: AsyncIterable[Mapping[str, Any]]
) -> AsyncIterator[bytes]:
    """The header line, then the rows' lines in chunks of `ROWS_PER_CHUNK`."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(columns)
    pending = 0
    async for row in rows:
        writer.writerow([csv_cell(row.get(column)) for column in columns])
        pending += 1
        if pending >= ROWS_PER_CHUNK:
            yield buffer.getvalue().encode()
            buffer.seek(0)
            buffer.truncate()
            pending = 0
    yield buffer.getvalue().encode()


def csv_response(
    filename: str, columns: Sequence[str], rows: AsyncIterable[Mapping[str, Any]]
) -> StreamingResponse:
    """A `text/csv` attachment streaming `rows` (each a mapping of column → value)."""
    return StreamingResponse(
        csv_chunks(columns, rows),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
