"""SQL of the flight listing and the flight aggregates (occupancy, punctuality, cancelled
flights). Every aggregate is one GROUP BY over `flights` (and `flight_cabins`), selected by
local service date; the statements are built by functions of their own so the admin bench can
EXPLAIN exactly what runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Select, and_, case, func, literal, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from flightdeck.flights.models import Flight, FlightCabin
from flightdeck.platform.reporting import (
    GroupBy,
    GroupColumns,
    ReportPeriod,
    group_columns,
    group_key,
)

ON_TIME_MINUTES = 15  # D15/A15: less than 15 minutes after schedule

FLIGHT_GROUPS = GroupColumns(
    service_date=Flight.service_date,
    origin=Flight.origin,
    destination=Flight.destination,
    flight_number=Flight.flight_number,
)
CABIN_GROUPS = GroupColumns(
    service_date=Flight.service_date,
    origin=Flight.origin,
    destination=Flight.destination,
    flight_number=Flight.flight_number,
    cabin=FlightCabin.cabin,
)


# --- the listing -------------------------------------------------------------------------


@dataclass(frozen=True)
class OperationsQuery:
    """Filters already resolved to indexable conditions."""

    service_date_from: date | None = None
    service_date_to: date | None = None
    departing_from: datetime | None = None  # inclusive, widened around the service dates
    departing_before: datetime | None = None  # exclusive
    origin: str | None = None
    destination: str | None = None
    status: str | None = None
    flight_number: str | None = None
    schedule_id: str | None = None


def operations_statement(
    query: OperationsQuery, *, limit: int, after: tuple[datetime, str] | None = None
) -> Select[Flight]:
    """Flights by (departure_at, id), strictly after the keyset `after`; cabins come in one
    extra (selectin) query per page."""
    statement = select(Flight)
    equal = (
        (Flight.origin, query.origin),
        (Flight.destination, query.destination),
        (Flight.status, query.status),
        (Flight.flight_number, query.flight_number),
        (Flight.schedule_id, query.schedule_id),
    )
    for column, value in equal:
        if value is not None:
            statement = statement.where(column == value)
    if query.service_date_from is not None:
        statement = statement.where(Flight.service_date >= query.service_date_from)
    if query.service_date_to is not None:
        statement = statement.where(Flight.service_date <= query.service_date_to)
    if query.departing_from is not None:
        statement = statement.where(Flight.departure_at >= query.departing_from)
    if query.departing_before is not None:
        statement = statement.where(Flight.departure_at < query.departing_before)
    if after is not None:
        at, flight_id = after
        statement = statement.where(
            Flight.departure_at >= at,
            or_(Flight.departure_at > at, and_(Flight.departure_at == at, Flight.id > flight_id)),
        )
    return statement.order_by(Flight.departure_at, Flight.id).limit(limit)


async def list_operations(
    session: AsyncSession,
    query: OperationsQuery,
    *,
    limit: int,
    after: tuple[datetime, str] | None = None,
) -> Sequence[Flight]:
    return (await session.scalars(operations_statement(query, limit=limit, after=after))).all()


# --- aggregates --------------------------------------------------------------------------


def _in_period(period: ReportPeriod) -> Any:
    return Flight.service_date.between(period.date_from, period.date_to)


def _counted(condition: Any) -> Any:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def occupancy_statement(period: ReportPeriod, group_by: GroupBy | None) -> Select[Any]:
    """Seats offered and sold and seat-km of the flights not cancelled, per group, in two
    steps: the cabins of each flight of the period summed (per cabin when grouping by
    cabin), then those per-flight rows summed per group, so flights are counted without a
    DISTINCT (and its sort) and only the period's cabins are read."""
    groups = group_columns(group_by, CABIN_GROUPS)
    per_flight = (
        select(
            *groups,
            Flight.id.label("flight_id"),
            Flight.distance_km.label("km"),
            func.sum(FlightCabin.capacity).label("capacity"),
            func.sum(FlightCabin.sold).label("sold"),
        )
        .join(FlightCabin, FlightCabin.flight_id == Flight.id)
        .where(_in_period(period), Flight.status != "cancelled")
        .group_by(*groups, Flight.id, Flight.distance_km)
        .subquery()
    )
    keys = [per_flight.c[f"g{i}"] for i in range(len(groups))]
    return select(
        *keys,
        func.count(),
        func.coalesce(func.sum(per_flight.c.capacity), 0),
        func.coalesce(func.sum(per_flight.c.sold), 0),
        func.coalesce(func.sum(per_flight.c.capacity * per_flight.c.km), 0),
        func.coalesce(func.sum(per_flight.c.sold * per_flight.c.km), 0),
    ).group_by(*keys)


def punctuality_counts_statement(period: ReportPeriod, group_by: GroupBy | None) -> Select[Any]:
    """The counts of `PunctualityAggregate`, per group."""
    groups = group_columns(group_by, FLIGHT_GROUPS)
    operated = Flight.actual_departure_at.is_not(None)
    departure_delay = func.coalesce(Flight.departure_delay_minutes, 0)
    arrived = and_(Flight.actual_arrival_at.is_not(None), Flight.diverted_to.is_(None))
    return (
        select(
            *groups,
            func.count(),
            _counted(operated),
            _counted(and_(operated, departure_delay < ON_TIME_MINUTES)),
            _counted(or_(arrived, Flight.diverted_to.is_not(None))),
            _counted(
                and_(arrived, func.coalesce(Flight.arrival_delay_minutes, 0) < ON_TIME_MINUTES)
            ),
            _counted(Flight.status == "cancelled"),
            _counted(Flight.diverted_to.is_not(None)),
            func.coalesce(
                func.sum(case((and_(operated, departure_delay > 0), departure_delay), else_=0)), 0
            ),
        )
        .where(_in_period(period))
        .group_by(*groups)
    )


def punctuality_p90_statement(period: ReportPeriod, group_by: GroupBy | None) -> Select[Any]:
    """The nearest-rank 90th percentile of the operated flights' departure delays (early =
    0), per group: window functions both SQLite (3.25+) and PostgreSQL run alike, and integer
    arithmetic only (⌈0.9·n⌉ = (9n + 9) div 10)."""
    groups = group_columns(group_by, FLIGHT_GROUPS)
    delay = case((Flight.departure_delay_minutes > 0, Flight.departure_delay_minutes), else_=0)
    operated = (
        select(*groups, delay.label("delay"))
        .where(_in_period(period), Flight.actual_departure_at.is_not(None))
        .subquery()
    )
    keys = [operated.c[f"g{i}"] for i in range(len(groups))]
    partition = keys or [literal(1)]
    ranked = select(
        *keys,
        operated.c.delay,
        func.row_number().over(partition_by=partition, order_by=operated.c.delay).label("rank"),
        func.count().over(partition_by=partition).label("n"),
    ).subquery()
    ranked_keys = [ranked.c[f"g{i}"] for i in range(len(groups))]
    nearest_rank = (9 * ranked.c.n + 9) // 10
    return select(
        *ranked_keys,
        func.max(case((ranked.c.rank == nearest_rank, ranked.c.delay))),
    ).group_by(*ranked_keys)


def cancelled_flights_statement(period: ReportPeriod, group_by: GroupBy | None) -> Select[Any]:
    groups = group_columns(group_by, FLIGHT_GROUPS)
    return (
        select(*groups, func.count())
        .where(_in_period(period), Flight.status == "cancelled")
        .group_by(*groups)
    )


def _width(group_by: GroupBy | None) -> int:
    return 0 if group_by is None else 2 if group_by == "route" else 1


async def grouped_rows(
    session: AsyncSession, statement: Select[Any], group_by: GroupBy | None
) -> dict[str, tuple[int | None, ...]]:
    """Runs an aggregate statement: {group key: the aggregate values as integers}."""
    width = _width(group_by)
    rows = await session.execute(statement)
    return {
        group_key(group_by, row[:width]): tuple(
            None if value is None else int(value) for value in row[width:]
        )
        for row in rows
    }
