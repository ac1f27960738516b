"""Pure rules: PNR shape and fare-rule refunds."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from flightdeck.bookings.fare_rules import (
    refund_for_airline_cancellation,
    refund_for_cancellation,
)
from flightdeck.bookings.pnr import PNR_ALPHABET, generate_pnr, normalise_pnr
from flightdeck.bookings.records import BookingRecord, BookingStatus, PassengerRecord, SegmentRecord
from flightdeck.platform.money import Money

DEPARTURE = datetime(2026, 12, 1, 13, 30, tzinfo=UTC)


def booking(status: BookingStatus, amount: int = 90001) -> BookingRecord:
    segment = SegmentRecord(
        flight_id="f1",
        flight_number="FD101",
        origin="JFK",
        destination="LHR",
        departure_at=DEPARTURE,
        arrival_at=DEPARTURE + timedelta(hours=7),
        fare=Money(amount=amount, currency="USD"),
        seats=(None,),
    )
    return BookingRecord(
        id="b1",
        pnr="ABC234",
        user_id="u1",
        status=status,
        cabin="economy",
        total_price=Money(amount=amount, currency="USD"),
        hold_expires_at=DEPARTURE - timedelta(days=2),
        segments=(segment,),
        passengers=(PassengerRecord("Ada", "Lovelace", date(1815, 12, 10)),),
        created_at=DEPARTURE - timedelta(days=3),
        updated_at=DEPARTURE - timedelta(days=3),
    )


def test_pnrs_use_six_unambiguous_characters() -> None:
    pnrs = {generate_pnr() for _ in range(500)}
    assert len(pnrs) == 500
    assert all(len(p) == 6 and set(p) <= set(PNR_ALPHABET) for p in pnrs)
    assert not set("01OIL") & set(PNR_ALPHABET)


@pytest.mark.parametrize(
    ("given", "expected"),
    [("abc234", "ABC234"), (" ABC234 ", "ABC234"), ("ABC23O", None), ("ABC2345", None)],
)
def test_pnr_lookups_ignore_case_and_reject_other_shapes(given: str, expected: str | None) -> None:
    assert normalise_pnr(given) == expected


def test_an_unpaid_booking_has_nothing_to_refund() -> None:
    assert (
        refund_for_cancellation(booking("pending_payment"), DEPARTURE - timedelta(days=2)) is None
    )
    assert refund_for_airline_cancellation(booking("pending_payment")) is None


@pytest.mark.parametrize(
    ("before_departure", "refund"),
    [
        (timedelta(hours=24, seconds=1), 90001),
        (timedelta(hours=24), 45000),  # not *more* than 24 h: half, rounded down
        (timedelta(hours=1), 45000),
    ],
)
def test_a_paid_booking_is_refunded_in_full_only_more_than_24h_ahead(
    before_departure: timedelta, refund: int
) -> None:
    now = DEPARTURE - before_departure
    assert refund_for_cancellation(booking("confirmed"), now) == Money(
        amount=refund, currency="USD"
    )


def test_an_airline_cancellation_refunds_a_paid_booking_in_full() -> None:
    assert refund_for_airline_cancellation(booking("confirmed")) == Money(
        amount=90001, currency="USD"
    )
