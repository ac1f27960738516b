"""Aggregates of flights, one per report group (`key`, see platform/reporting.py): plain
integers summed in SQL; the ratios are derived by whoever presents them."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class OccupancyAggregate:
    """Flights not cancelled: seats offered and sold, and their seat-kilometres."""

    key: str
    flights: int
    seats_offered: int
    seats_sold: int
    ask: int  # available seat-km: seats offered times great-circle km
    rpk: int  # revenue passenger-km: seats sold times great-circle km


@dataclass(frozen=True)
class PunctualityAggregate:
    """Punctuality of the flights of a group.

    `operated`: flights that left (an actual departure). `departed_on_time` (D15): of those,
    the ones that left less than 15 minutes after schedule. `completed`: flights that arrived
    at their destination or were diverted; `arrived_on_time` (A15): arrived at the destination
    less than 15 minutes late (a diversion never is). `delay_minutes_total` sums the departure
    delays of the operated flights (early = 0), `p90_delay_minutes` is their 90th percentile
    (nearest rank: the ⌈0.9·n⌉-th smallest).
    """

    key: str
    flights: int
    operated: int
    departed_on_time: int
    completed: int
    arrived_on_time: int
    cancelled: int
    diverted: int
    delay_minutes_total: int
    p90_delay_minutes: int | None
