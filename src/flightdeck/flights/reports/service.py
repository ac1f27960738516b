"""Flights as operations and reports see them: the listing of every flight with its load,
status and delays, and the aggregates of occupancy, punctuality and cancelled flights (the
admin domain composes them into reports)."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from flightdeck.flights.airports import get_airport, to_local
from flightdeck.flights.models import Flight
from flightdeck.flights.reports import repository
from flightdeck.flights.reports.records import OccupancyAggregate, PunctualityAggregate
from flightdeck.flights.reports.schemas import (
    CabinLoadRead,
    FlightOperationsFilters,
    FlightOperationsRead,
)
from flightdeck.platform.pagination import (
    Page,
    PageParams,
    decode_instant_cursor,
    instant_cursor,
)
from flightdeck.platform.reporting import GroupBy, ReportPeriod

# Any local day lies within these offsets of UTC midnight (UTC-12 .. UTC+14).
_EARLIEST_OFFSET = timedelta(hours=14)
_LATEST_OFFSET = timedelta(hours=12)


def load_factor(sold: int, capacity: int) -> float:
    """sold / capacity to four decimals (0 for a cabin without seats)."""
    return round(sold / capacity, 4) if capacity else 0.0


def _operations_query(filters: FlightOperationsFilters) -> repository.OperationsQuery:
    """Service dates also bound the departure instant (widened by the extreme UTC offsets),
    so the departure index serves the range."""
    if filters.origin is not None:
        get_airport(filters.origin, "origin")
    if filters.destination is not None:
        get_airport(filters.destination, "destination")
    departing_from = departing_before = None
    if filters.date_from is not None:
        departing_from = datetime.combine(filters.date_from, time(0), UTC) - _EARLIEST_OFFSET
    if filters.date_to is not None:
        next_day = filters.date_to + timedelta(days=1)
        departing_before = datetime.combine(next_day, time(0), UTC) + _LATEST_OFFSET
    return repository.OperationsQuery(
        service_date_from=filters.date_from,
        service_date_to=filters.date_to,
        departing_from=departing_from,
        departing_before=departing_before,
        origin=filters.origin,
        destination=filters.destination,
        status=filters.status,
        flight_number=filters.flight_number,
        schedule_id=filters.schedule_id,
    )


def operations_row(flight: Flight) -> FlightOperationsRead:
    cabins = [
        CabinLoadRead(
            cabin=cabin.cabin,
            capacity=cabin.capacity,
            sold=cabin.sold,
            load_factor=load_factor(cabin.sold, cabin.capacity),
        )
        for cabin in flight.cabins
    ]
    capacity = sum(cabin.capacity for cabin in cabins)
    sold = sum(cabin.sold for cabin in cabins)
    return FlightOperationsRead(
        id=flight.id,
        flight_number=flight.flight_number,
        service_date=flight.service_date,
        origin=flight.origin,
        destination=flight.destination,
        departure_time=to_local(flight.departure_at, flight.origin),
        arrival_time=to_local(flight.arrival_at, flight.destination),
        aircraft=flight.aircraft,
        schedule_id=flight.schedule_id,
        status=flight.status,
        delay_minutes=flight.delay_minutes,
        departure_delay_minutes=flight.departure_delay_minutes,
        arrival_delay_minutes=flight.arrival_delay_minutes,
        distance_km=flight.distance_km,
        capacity=capacity,
        sold=sold,
        load_factor=load_factor(sold, capacity),
        cabins=cabins,
    )


async def list_operations(
    session: AsyncSession, filters: FlightOperationsFilters, page: PageParams
) -> Page[FlightOperationsRead]:
    """Every flight matching the filters, by departure, keyset-paginated on (departure, id)."""
    flights = await repository.list_operations(
        session,
        _operations_query(filters),
        limit=page.limit + 1,
        after=decode_instant_cursor(page.cursor),
    )
    items = list(flights[: page.limit])
    next_cursor = None
    if len(flights) > page.limit:
        next_cursor = instant_cursor(items[-1].departure_at, items[-1].id)
    return Page(items=[operations_row(flight) for flight in items], next_cursor=next_cursor)


def _ints(values: tuple[int | None, ...]) -> list[int]:
    return [value or 0 for value in values]


async def occupancy(
    session: AsyncSession, period: ReportPeriod, group_by: GroupBy | None
) -> list[OccupancyAggregate]:
    """Seats offered/sold and ASK/RPK of the flights not cancelled, per group (one `total`
    row when `group_by` is None), in key order."""
    rows = await repository.grouped_rows(
        session, repository.occupancy_statement(period, group_by), group_by
    )
    return [OccupancyAggregate(key, *_ints(values)) for key, values in sorted(rows.items())]


async def punctuality(
    session: AsyncSession, period: ReportPeriod, group_by: GroupBy | None
) -> list[PunctualityAggregate]:
    """On-time performance per group (one `total` row when `group_by` is None)."""
    counts = await repository.grouped_rows(
        session, repository.punctuality_counts_statement(period, group_by), group_by
    )
    p90 = await repository.grouped_rows(
        session, repository.punctuality_p90_statement(period, group_by), group_by
    )
    aggregates = []
    for key, values in sorted(counts.items()):
        flights, operated, d15, completed, a15, cancelled, diverted, delay_total = _ints(values)
        aggregates.append(
            PunctualityAggregate(
                key=key,
                flights=flights,
                operated=operated,
                departed_on_time=d15,
                completed=completed,
                arrived_on_time=a15,
                cancelled=cancelled,
                diverted=diverted,
                delay_minutes_total=delay_total,
                p90_delay_minutes=p90.get(key, (None,))[0],
            )
        )
    return aggregates


async def cancelled_flights(
    session: AsyncSession, period: ReportPeriod, group_by: GroupBy | None
) -> dict[str, int]:
    """Flights cancelled per group."""
    rows = await repository.grouped_rows(
        session, repository.cancelled_flights_statement(period, group_by), group_by
    )
    return {key: values[0] or 0 for key, values in rows.items()}
