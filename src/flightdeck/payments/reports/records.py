"""Money aggregates of payments (integer minor units, one currency each)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RevenueAggregate:
    """Captured payments for the flights of a group in one currency: what was taken, what
    was paid back, the bookings (each counted on its first flight), the passengers (per
    flight) paid for, and their revenue passenger-km (passengers times great-circle km)."""

    key: str
    currency: str
    captured: int
    refunded: int
    bookings: int
    passengers: int
    rpk: int


@dataclass(frozen=True)
class RefundAggregate:
    """Money paid back for the flights of a group, in one currency."""

    key: str
    currency: str
    refunded: int


@dataclass(frozen=True)
class BookingPayments:
    """What a booking's payments took and paid back."""

    currency: str
    paid: int
    refunded: int
