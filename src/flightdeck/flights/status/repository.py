"""SQL over the status history: how punctual each flight number has been.

Computed in SQL (GROUP BY), never by loading history rows into Python. Works on a session or
a plain connection (search reads on a connection of its own).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import Float, Integer, Select, Table, bindparam, case, func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from flightdeck.flights.models import Flight, FlightStatusChange
from flightdeck.platform.portable_sql import seconds_between

# The statuses that end a flight in the history: its outcome.
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
    history: Table = FlightStatusChange.__table__  # type: ignore[assignment]
    f, h = flights.c, history.c
    arrival_delay = seconds_between(f.arrival_at, h.actual_arrival_at)
    # One row per flight: its outcome, from the history rows that end a flight.
    outcomes = (
        select(
            f.flight_number.label("flight_number"),
            func.max(case((h.status == "diverted", 1), else_=0)).label("diverted"),
            func.max(case((h.status == "cancelled", 1), else_=0)).label("cancelled"),
            func.max(case((h.status == "arrived", arrival_delay), else_=None)).label("delay"),
        )
        .select_from(flights.join(history, h.flight_id == f.id))
        .where(
            f.flight_number.in_(bindparam("flight_numbers", expanding=True)),
            f.departure_at >= bindparam("since", type_=f.departure_at.type),
            f.departure_at < bindparam("until", type_=f.departure_at.type),
            h.status.in_(OUTCOME_STATUSES),
        )
        .group_by(f.id, f.flight_number)
        .subquery("outcomes")
    )
    o = outcomes.c
    arrived = (o.diverted == 0) & (o.cancelled == 0) & o.delay.is_not(None)
    on_time = arrived & (o.delay < bindparam("on_time_seconds", type_=Integer))
    return select(
        o.flight_number,
        func.count(),
        func.sum(case((on_time, 1), else_=0)),
        func.avg(case((arrived, case((o.delay > 0, o.delay), else_=0)), else_=None)).cast(Float),
    ).group_by(o.flight_number)


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
