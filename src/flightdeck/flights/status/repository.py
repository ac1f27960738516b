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

from sqlalchemy import Float, Integer, Select, Table, and_, bindparam, case, func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from flightdeck.flights.models import Flight
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
def _punctuality_statement() -> Select[Any]:
    flights: Table = Flight.__table__  # type: ignore[assignment]
    f = flights.c
    arrival_delay = seconds_between(f.arrival_at, f.actual_arrival_at)
    # Arrived where it was going (a diverted flight that arrived later did not).
    arrived = and_(f.status == "arrived", f.diverted_to.is_(None), f.actual_arrival_at.is_not(None))
    on_time = and_(arrived, arrival_delay < bindparam("on_time_seconds", type_=Integer))
    late = case((arrival_delay > 0, arrival_delay), else_=0)
    # Counted, not filtered on: a condition on the status let PostgreSQL add its index (half
    # the table is `arrived`) to the flight numbers' few rows.
    observed = func.sum(case((f.status.in_(OUTCOME_STATUSES), 1), else_=0))
    return (
        select(
            f.flight_number,
            observed,
            func.sum(case((on_time, 1), else_=0)),
            func.avg(case((arrived, late), else_=None)).cast(Float),
        )
        .where(
            f.flight_number.in_(bindparam("flight_numbers", expanding=True)),
            f.departure_at >= bindparam("since", type_=f.departure_at.type),
            f.departure_at < bindparam("until", type_=f.departure_at.type),
        )
        .group_by(f.flight_number)
        .having(observed > 0)
    )


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
    rows: list[PunctualityRow] = []
    numbers = sorted(set(flight_numbers))
    for start in range(0, len(numbers), _IN_CHUNK):
        result = await executor.execute(
            _punctuality_statement(),
            {
                "flight_numbers": numbers[start : start + _IN_CHUNK],
                "since": since,
                "until": until,
                "on_time_seconds": on_time_seconds,
            },
        )
        rows.extend(
            PunctualityRow(number, int(observed), int(on_time or 0), average)
            for number, observed, on_time, average in result
        )
    return rows
