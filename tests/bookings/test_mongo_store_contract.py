"""The `BookingRepository` contract, asserted the same way on the SQL and the MongoDB store
(`booking_store` parametrises every test): round trips, pagination, the conditional status
changes under concurrency, the sweeper's queries, PNR uniqueness, personal data at rest."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from flightdeck.bookings.records import (
    CANCELLED,
    CONFIRMED,
    EXPIRED,
    PENDING_PAYMENT,
    BookingCursor,
    BookingRecord,
    PassengerRecord,
    SegmentRecord,
)
from flightdeck.bookings.repository import PnrTaken
from flightdeck.bookings.stores import booking_repository
from flightdeck.platform.events.outbox import RecordedEvent, new_event
from flightdeck.platform.money import Money
from tests.bookings.factories import booking_events
from tests.bookings.stores import store_of, stored_booking, stored_passenger_fields, uses_mongo

pytestmark = pytest.mark.asyncio(loop_scope="session")

# Whole milliseconds: MongoDB keeps instants to the millisecond.
T0 = datetime(2030, 5, 1, 9, 30, 15, 123000, tzinfo=UTC)
HOLD = timedelta(minutes=15)
FLIGHT_A = "flight-a"
FLIGHT_B = "flight-b"


def make_booking(
    *, user_id: str = "user-1", created_at: datetime = T0, **overrides: Any
) -> BookingRecord:
    """A pending two-segment booking for two passengers (one without a passport)."""
    booking_id = str(uuid.uuid4())
    fields: dict[str, Any] = {
        "id": booking_id,
        "pnr": booking_id[:6].upper(),
        "user_id": user_id,
        "status": PENDING_PAYMENT,
        "cabin": "economy",
        "total_price": Money(amount=114000, currency="USD"),
        "hold_expires_at": created_at + HOLD,
        "segments": (
            SegmentRecord(
                flight_id=FLIGHT_A,
                flight_number="FD101",
                origin="JFK",
                destination="LHR",
                departure_at=T0 + timedelta(days=3),
                arrival_at=T0 + timedelta(days=3, hours=7),
                fare=Money(amount=45000, currency="USD"),
                seats=("12A", None),
            ),
            SegmentRecord(
                flight_id=FLIGHT_B,
                flight_number="FD202",
                origin="LHR",
                destination="CDG",
                departure_at=T0 + timedelta(days=3, hours=9),
                arrival_at=T0 + timedelta(days=3, hours=10),
                fare=Money(amount=12000, currency="USD"),
                seats=(None, "3C"),
            ),
        ),
        "passengers": (
            PassengerRecord("Grace", "Hopper", datetime(1986, 12, 9).date(), "P000098765"),
            PassengerRecord("Alan", "Turing", datetime(1990, 6, 23).date(), None),
        ),
        "created_at": created_at,
        "updated_at": created_at,
    }
    fields.update(overrides)
    return BookingRecord(**fields)


def created(booking: BookingRecord) -> RecordedEvent:
    """The booking's `booking.created` event (what the service stores it with)."""
    return new_event(
        "booking.created",
        aggregate_type="booking",
        aggregate_id=booking.id,
        payload={"booking_id": booking.id, "pnr": booking.pnr},
    )


async def add(app: FastAPI, *bookings: BookingRecord) -> None:
    async with store_of(app) as store:
        for booking in bookings:
            await store.add(booking, created(booking))


async def test_an_added_booking_reads_back_unchanged_by_id_and_by_pnr(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    booking = make_booking()
    await add(app, booking)
    async with store_of(app) as store:
        assert await store.get(booking.id) == booking
        assert await store.get_by_pnr(booking.pnr) == booking
        assert await store.get(str(uuid.uuid4())) is None
        assert await store.get_by_pnr("ZZZZZZ") is None


async def test_a_taken_pnr_raises_pnr_taken_and_stores_nothing(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    first = make_booking()
    second = make_booking(pnr=first.pnr)
    async with store_of(app) as store:
        await store.add(first, created(first))
        with pytest.raises(PnrTaken):
            await store.add(second, created(second))
        assert await store.get(second.id) is None
        # The store stays usable: the service retries the same booking with a new PNR.
        retried = replace(second, pnr="RETRY2")
        await store.add(retried, created(retried))
    assert await stored_booking(app, second.id) == replace(second, pnr="RETRY2")
    assert await stored_booking(app, first.id) == first


async def test_an_added_booking_writes_its_event_to_the_outbox_once_and_a_taken_pnr_none(
    client: httpx.AsyncClient, app: FastAPI, db: AsyncSession
) -> None:
    first = make_booking()
    second = make_booking(pnr=first.pnr)
    retried = replace(second, pnr="RETRY3")
    async with store_of(app) as store:
        await store.add(first, created(first))
        with pytest.raises(PnrTaken):
            await store.add(second, created(second))
        await store.add(retried, created(retried))
    assert [e.payload["pnr"] for e in await booking_events(db, first.id)] == [first.pnr]
    [event] = await booking_events(db, second.id)
    assert (event.event_type, event.payload["pnr"]) == ("booking.created", "RETRY3")


async def test_an_added_booking_and_its_event_roll_back_with_the_sql_transaction(
    client: httpx.AsyncClient, app: FastAPI, db: AsyncSession
) -> None:
    booking = make_booking()
    maker: async_sessionmaker[AsyncSession] = app.state.sessionmaker
    async with maker() as session:
        await booking_repository(session).add(booking, created(booking))
        await session.rollback()
    assert await booking_events(db, booking.id) == []
    if not uses_mongo(app):  # MongoDB commits on its own (repository.py's consistency notes)
        assert await stored_booking(app, booking.id) is None


async def test_a_users_bookings_page_newest_first_then_by_id(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    times = [T0, T0 + timedelta(minutes=1), T0 + timedelta(minutes=1), T0 + timedelta(hours=1)]
    mine = [make_booking(created_at=at) for at in [*times, T0 - timedelta(days=1)]]
    theirs = make_booking(user_id="user-2", created_at=T0 + timedelta(minutes=1))
    await add(app, *mine, theirs)
    expected = sorted(mine, key=lambda b: (b.created_at, b.id), reverse=True)

    pages: list[list[BookingRecord]] = []
    after: BookingCursor | None = None
    async with store_of(app) as store:
        for _ in range(4):
            page = await store.list_for_user("user-1", limit=2, after=after)
            if not page:
                break
            pages.append(page)
            after = BookingCursor(created_at=page[-1].created_at, id=page[-1].id)

    assert [len(page) for page in pages] == [2, 2, 1]
    assert [b.id for page in pages for b in page] == [b.id for b in expected]


async def test_confirm_applies_once_and_only_while_the_hold_lasts(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    booking, late = make_booking(), make_booking()
    await add(app, booking, late)
    paid_at = T0 + timedelta(minutes=5)
    async with store_of(app) as store:
        confirmed = await store.confirm(booking.id, payment_id="pay_1", at=paid_at)
        assert confirmed == replace(
            booking,
            status=CONFIRMED,
            payment_id="pay_1",
            confirmed_at=paid_at,
            updated_at=paid_at,
        )
        assert await store.confirm(booking.id, payment_id="pay_2", at=paid_at) is None
        assert await store.confirm(late.id, payment_id="pay_3", at=late.hold_expires_at) is None
        assert await store.confirm(str(uuid.uuid4()), payment_id="pay_4", at=paid_at) is None
    assert await stored_booking(app, booking.id) == confirmed
    assert await stored_booking(app, late.id) == late


async def test_two_concurrent_confirms_exactly_one_wins(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    booking = make_booking()
    await add(app, booking)

    async def confirm(payment_id: str) -> BookingRecord | None:
        async with store_of(app) as store:
            return await store.confirm(booking.id, payment_id=payment_id, at=T0)

    outcomes = await asyncio.gather(confirm("pay_a"), confirm("pay_b"))

    [winner] = [outcome for outcome in outcomes if outcome is not None]
    assert winner.status == CONFIRMED
    assert await stored_booking(app, booking.id) == winner


async def test_cancel_applies_only_from_the_status_its_refund_was_computed_for(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    booking = make_booking()
    await add(app, booking)
    at = T0 + timedelta(minutes=2)
    refund = Money(amount=57000, currency="USD")
    async with store_of(app) as store:
        assert (
            await store.cancel(booking.id, from_status=CONFIRMED, at=at, reason="x", refund=refund)
            is None
        )
        cancelled = await store.cancel(
            booking.id, from_status=PENDING_PAYMENT, at=at, reason="changed plans", refund=refund
        )
        assert cancelled is not None
        assert (cancelled.status, cancelled.cancelled_at, cancelled.updated_at) == (
            CANCELLED,
            at,
            at,
        )
        assert (cancelled.cancellation_reason, cancelled.refund_amount) == ("changed plans", refund)
        assert cancelled.passengers == booking.passengers
        for status in (PENDING_PAYMENT, CANCELLED):
            assert (
                await store.cancel(booking.id, from_status=status, at=at, reason=None, refund=None)
                is None
            )
    assert await stored_booking(app, booking.id) == cancelled


async def test_a_cancel_racing_an_expiry_exactly_one_wins(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    bookings = [make_booking() for _ in range(5)]
    await add(app, *bookings)
    at = T0 + HOLD

    async def cancel(booking: BookingRecord) -> BookingRecord | None:
        async with store_of(app) as store:
            return await store.cancel(
                booking.id, from_status=PENDING_PAYMENT, at=at, reason=None, refund=None
            )

    async def expire(booking: BookingRecord) -> BookingRecord | None:
        async with store_of(app) as store:
            return await store.expire(booking.id, at=at)

    for booking in bookings:
        outcomes = await asyncio.gather(cancel(booking), expire(booking), cancel(booking))
        [winner] = [outcome for outcome in outcomes if outcome is not None]
        assert winner.status in (CANCELLED, EXPIRED)
        assert await stored_booking(app, booking.id) == winner


async def test_expire_applies_once_the_hold_has_run_out_and_never_after_payment(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    pending, paid = make_booking(), make_booking()
    await add(app, pending, paid)
    async with store_of(app) as store:
        await store.confirm(paid.id, payment_id="pay_1", at=T0)
        just_before = pending.hold_expires_at - timedelta(milliseconds=1)
        assert await store.expire(pending.id, at=just_before) is None
        expired = await store.expire(pending.id, at=pending.hold_expires_at)
        assert expired is not None
        assert (expired.status, expired.expired_at) == (EXPIRED, pending.hold_expires_at)
        assert await store.expire(pending.id, at=pending.hold_expires_at) is None
        assert await store.expire(paid.id, at=paid.hold_expires_at + HOLD) is None
        assert await store.confirm(pending.id, payment_id="pay_2", at=just_before) is None
    assert await stored_booking(app, pending.id) == expired


async def test_expired_holds_are_listed_earliest_expiry_first_pending_only(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    later = make_booking(created_at=T0 + timedelta(minutes=3))
    earlier = make_booking(created_at=T0 + timedelta(minutes=1))
    not_yet = make_booking(created_at=T0 + timedelta(hours=1))
    paid = make_booking(created_at=T0)
    await add(app, later, earlier, not_yet, paid)
    now = T0 + timedelta(minutes=30)
    async with store_of(app) as store:
        await store.confirm(paid.id, payment_id="pay_1", at=T0)
        assert [b.id for b in await store.list_expired_holds(now, limit=10)] == [
            earlier.id,
            later.id,
        ]
        assert [b.id for b in await store.list_expired_holds(now, limit=1)] == [earlier.id]
        assert await store.list_expired_holds(T0, limit=10) == []


async def test_active_bookings_on_a_flight_include_any_segment_and_skip_ended_ones(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    on_a_then_b = make_booking(created_at=T0)
    paid = make_booking(created_at=T0 + timedelta(minutes=1))
    cancelled = make_booking(created_at=T0 + timedelta(minutes=2))
    only_b = make_booking(created_at=T0 + timedelta(minutes=3), segments=(on_a_then_b.segments[1],))
    await add(app, on_a_then_b, paid, cancelled, only_b)
    async with store_of(app) as store:
        await store.confirm(paid.id, payment_id="pay_1", at=T0)
        await store.cancel(
            cancelled.id, from_status=PENDING_PAYMENT, at=T0, reason=None, refund=None
        )
        on_a = await store.list_active_on_flight(FLIGHT_A)
        on_b = await store.list_active_on_flight(FLIGHT_B)
        assert await store.list_active_on_flight("flight-z") == []
    assert [b.id for b in on_a] == [on_a_then_b.id, paid.id]
    assert [b.id for b in on_b] == [on_a_then_b.id, paid.id, only_b.id]


async def test_ended_bookings_await_the_repair_pass_until_their_seats_are_marked_released(
    client: httpx.AsyncClient, app: FastAPI, booking_store: str
) -> None:
    """SQL releases seats in the status change's own transaction; MongoDB commits on its
    own, so its ended bookings are listed for the sweeper's repair pass until marked."""
    cancelled, expired, pending = make_booking(), make_booking(), make_booking()
    await add(app, cancelled, expired, pending)
    at = T0 + HOLD
    async with store_of(app) as store:
        await store.cancel(
            cancelled.id, from_status=PENDING_PAYMENT, at=at, reason=None, refund=None
        )
        await store.expire(expired.id, at=at)
        assert await store.list_unreleased(before=at - timedelta(milliseconds=1), limit=10) == []
        unreleased = await store.list_unreleased(before=at, limit=10)
        limited = await store.list_unreleased(before=at, limit=1)

    if booking_store == "mongo":
        assert sorted(b.id for b in unreleased) == sorted([cancelled.id, expired.id])
        assert len(limited) == 1
        assert all(b.seats_released_at is None for b in unreleased)
    else:
        assert unreleased == limited == []

    released_at = at + timedelta(minutes=2)
    async with store_of(app) as store:
        for booking in (cancelled, expired):
            await store.mark_seats_released(booking.id, at=released_at)
        assert await store.list_unreleased(before=released_at, limit=10) == []
    for booking in (cancelled, expired):
        stored = await stored_booking(app, booking.id)
        assert stored is not None
        # SQL stamped the release with the status change; a later mark keeps that.
        assert stored.seats_released_at == (released_at if booking_store == "mongo" else at)
    assert await stored_booking(app, pending.id) == pending


async def test_passport_numbers_and_birth_dates_are_not_stored_in_plaintext(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    booking = make_booking()
    await add(app, booking)
    stored = await stored_passenger_fields(app)
    assert len(stored) == 2
    assert sorted(passport is None for passport, _ in stored) == [False, True]
    for passport, born in stored:
        assert born.startswith("v1:") and "1986" not in born and "1990" not in born
        assert passport is None or (passport.startswith("v1:") and "98765" not in passport)
    assert await stored_booking(app, booking.id) == booking
