"""What a payment pays for, per flight: written with the attempt, captured when it succeeds,
and given its share of every refund, all in the transaction of that change.

Refunds are split across a payment's segments in proportion to their amounts: each segment
gets the floor of its exact share, and the units left over go one each to the segments in
travel order. So the segments' refunds always add up to the payment's, in integer minor units.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from flightdeck.bookings.records import BookingRecord
from flightdeck.flights.airports import great_circle_km
from flightdeck.payments.models import Payment, PaymentSegment
from flightdeck.payments.repository import PaymentSegmentRepository
from flightdeck.platform.db import new_id


def split_in_proportion(total: int, weights: Sequence[int]) -> list[int]:
    """`total` split in proportion to `weights` (floors, then one unit each to the first
    ones until nothing is left); all to the first weight when they add up to zero."""
    if not weights:
        return []
    whole = sum(weights)
    if whole <= 0:
        return [total] + [0] * (len(weights) - 1)
    shares = [total * weight // whole for weight in weights]
    for index in range(total - sum(shares)):
        shares[index % len(shares)] += 1
    return shares


def segments_for(payment: Payment, booking: BookingRecord) -> list[PaymentSegment]:
    passengers = len(booking.passengers)
    return [
        PaymentSegment(
            id=new_id(),
            payment_id=payment.id,
            booking_id=booking.id,
            position=position,
            flight_id=segment.flight_id,
            flight_number=segment.flight_number,
            origin=segment.origin,
            destination=segment.destination,
            service_date=segment.service_date,
            cabin=booking.cabin,
            passengers=passengers,
            distance_km=great_circle_km(segment.origin, segment.destination),
            currency=segment.fare.currency,
            amount=segment.fare.amount * passengers,
            captured_amount=0,
            refunded_amount=0,
        )
        for position, segment in enumerate(booking.segments)
    ]


async def record_segments(session: AsyncSession, payment: Payment, booking: BookingRecord) -> None:
    """Keeps the flights the new attempt pays for (in the attempt's transaction)."""
    await PaymentSegmentRepository(session).add_all(segments_for(payment, booking))


async def capture_segments(session: AsyncSession, payment_id: str) -> None:
    await PaymentSegmentRepository(session).capture(payment_id)


async def share_refunds(session: AsyncSession, payment_id: str, refunded_total: int) -> None:
    """Spreads everything refunded on the payment so far over its segments."""
    repo = PaymentSegmentRepository(session)
    segments = await repo.for_payment(payment_id)
    shares = split_in_proportion(refunded_total, [segment.amount for segment in segments])
    for segment, share in zip(segments, shares, strict=True):
        segment.refunded_amount = share
    await repo.flush()
