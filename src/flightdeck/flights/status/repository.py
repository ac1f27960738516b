"""SQL over flights' outcomes: how punctual each flight number has been.

Computed in SQL (GROUP BY), never by loading rows into Python. Works on a session or a plain
connection (search reads on a connection of its own).

A flight's outcome is read on the flight itself, not in its status history: every status
change goes through the status service, which writes it on the flight and adds its history
row in one transaction, and an outcome is final (`cancelled` and `arrived` end a flight;
`diverted` may only be followed by `arrived`, and keeps `diverted_to`). So a flight whose
history holds an outcome row is one whose status is an outcome; it was diverted when it has
a `diverted_to`; its arrival is its `actual_arrival_at`. Read that way, the cost follows the
flight numbers asked for (their flights of the window, on the index (flight number,
departure)), where joining the history read all of it (a sequential scan of every status
change: ~37 ms at 100,000 flights, the most expensive statement of a search that missed the
cache).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Float,
    Integer,
    Select,
    String,
    Table,
    and_,
    any_,
    bindparam,
    case,
    func,
    select,
    type_coerce,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.types import NullType

from flightdeck.flights.models import Flight
from flightdeck.platform.compiled_reads import CompiledRead, constants
from flightdeck.platform.portable_sql import seconds_between

# The statuses that end a flight: its outcome.
OUTCOME_STATUSES = ("arrived", "cancelled", "diverted")
_IN_CHUNK = 500


@dataclass(frozen=True)
class PunctualityRow:
    flight_number: str
    observed: int  # flights with an outcome (arrived, cancelled or diverted)
    on_time: int  # of them: arrived at the destination less than the threshold late
    average_delay_seconds: float | None  # over the arrived ones (early counts as 0)


@cache
def _punctuality_statement(dialect: str) -> Select[Any]:
    """On PostgreSQL the flight numbers are one array parameter (`= ANY`) and the statement
    runs on the driver (`_PUNCTUALITY_ON_DRIVER`); elsewhere an IN list, through SQLAlchemy."""
    flights: Table = Flight.__table__  # type: ignore[assignment]
    f = flights.c
    arrival_delay = seconds_between(f.arrival_at, f.actual_arrival_at)
    # Arrived where it was going (a diverted flight that arrived later did not).
    arrived = and_(f.status == "arrived", f.diverted_to.is_(None), f.actual_arrival_at.is_not(None))
    on_time = and_(arrived, arrival_delay < bindparam("on_time_seconds", type_=Integer))
    late = case((arrival_delay > 0, arrival_delay), else_=0)
    # Counted, not filtered on: a condition on the status let PostgreSQL add its index (half
    # the table is `arrived`) to the flight numbers' few rows.
    observed = func.sum(case((f.status.in_(constants(OUTCOME_STATUSES)), 1), else_=0))
    average: ColumnElement[Any] = func.avg(case((arrived, late), else_=None)).cast(Float)
    if dialect == "postgresql":
        # Read as asyncpg returns a float8, a Python float: Float's result processor on
        # asyncpg asks for the column's type code, which a compiled statement refuses.
        average = type_coerce(average, NullType())
    numbers = (
        f.flight_number == any_(bindparam("flight_numbers", type_=postgresql.ARRAY(String)))
        if dialect == "postgresql"
        else f.flight_number.in_(bindparam("flight_numbers", expanding=True))
    )
    return (
        select(
            f.flight_number,
            observed,
            func.sum(case((on_time, 1), else_=0)),
            average,
        )
        .where(
            numbers,
            f.departure_at >= bindparam("since", type_=f.departure_at.type),
            f.departure_at < bindparam("until", type_=f.departure_at.type),
        )
        .group_by(f.flight_number)
        .having(observed > 0)
    )


# A search that misses the punctuality cache runs it: SQLAlchemy's execution of an IN list
# (the statement expanded and its cache key built per execution) was most of its client CPU.
_PUNCTUALITY_ON_DRIVER = CompiledRead(_punctuality_statement("postgresql"))


async def punctuality_by_flight_number(
    executor: AsyncConnection | AsyncSession,
    flight_numbers: Sequence[str],
    *,
    since: datetime,
    until: datetime,
    on_time_seconds: int,
) -> list[PunctualityRow]:
    """For each flight number with at least one outcome among its flights scheduled to depart
    in [since, until): flights observed, how many arrived less than `on_time_seconds` late,
    and their average arrival delay. A flight with no outcome yet is not counted."""
    numbers = sorted(set(flight_numbers))
    values: dict[str, Any] = {"since": since, "until": until, "on_time_seconds": on_time_seconds}
    conn = executor if isinstance(executor, AsyncConnection) else await executor.connection()
    if conn.dialect.name == "postgresql":
        found = await _PUNCTUALITY_ON_DRIVER.rows(conn, values | {"flight_numbers": numbers})
    else:
        found = []
        for start in range(0, len(numbers), _IN_CHUNK):
            chunk = values | {"flight_numbers": numbers[start : start + _IN_CHUNK]}
            found.extend(await conn.execute(_punctuality_statement(conn.dialect.name), chunk))
    return [
        PunctualityRow(number, int(observed), int(on_time or 0), average)
        for number, observed, on_time, average in found
    ]
