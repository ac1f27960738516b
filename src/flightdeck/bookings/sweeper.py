"""The hold sweeper: expires bookings whose seat hold ran out and gives their seats back.

Safe to run in any number of processes at once: each booking is expired by one conditional
update in its own transaction, and only the transaction that changed the status releases the
seats. `build_hold_sweeper` makes the background worker a server runs.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from functools import partial

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from flightdeck.bookings import service
from flightdeck.bookings.records import BookingRecord
from flightdeck.bookings.stores import get_booking_repository
from flightdeck.flights.inventory.service import release_inventory
from flightdeck.platform.idempotency import purge_expired_keys
from flightdeck.platform.settings import Settings
from flightdeck.platform.worker import BackgroundWorker

log = logging.getLogger(__name__)

BATCH_SIZE = 100
MAX_BATCHES = 20  # per run: a backlog beyond 2,000 waits for the next run
# A store that commits on its own gets this long to finish a release before it is repaired.
REPAIR_GRACE = timedelta(minutes=1)


async def release_expired_holds(
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    now: datetime | None = None,
) -> int:
    """Expires every pending booking whose hold ran out by `now` (default: the clock), one
    transaction per booking; returns how many this call expired (others may have been
    expired by a concurrent sweeper). A booking that fails is logged and skipped."""
    now = now or service.booking_now()
    expired = 0
    for _ in range(MAX_BATCHES):
        async with sessionmaker() as session:
            batch = await get_booking_repository(session, settings).list_expired_holds(
                now, limit=BATCH_SIZE
            )
            await session.commit()
        expired_in_batch = 0
        for booking in batch:
            expired_in_batch += await _expire_one(sessionmaker, settings, booking.id, now)
        expired += expired_in_batch
        # A short batch is the last; a batch that expired nothing would only repeat itself.
        if len(batch) < BATCH_SIZE or expired_in_batch == 0:
            break
    return expired


async def _expire_one(
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    booking_id: str,
    now: datetime,
) -> bool:
    try:
        async with sessionmaker() as session, session.begin():
            store = get_booking_repository(session, settings)
            return await service.expire_booking(session, booking_id, now, store=store)
    except Exception:
        log.exception("could not expire booking %s", booking_id)
        return False


async def repair_unreleased_seats(
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    now: datetime | None = None,
) -> int:
    """Releases the seats of cancelled/expired bookings a crash left holding them (only a
    store that commits apart from SQL can leave any); returns how many were repaired."""
    before = (now or service.booking_now()) - REPAIR_GRACE
    async with sessionmaker() as session:
        store = get_booking_repository(session, settings)
        bookings = await store.list_unreleased(before=before, limit=BATCH_SIZE)
        await session.commit()
    repaired = 0
    for booking in bookings:
        repaired += await _repair_one(sessionmaker, settings, booking)
    return repaired


async def _repair_one(
    sessionmaker: async_sessionmaker[AsyncSession], settings: Settings, booking: BookingRecord
) -> bool:
    try:
        async with sessionmaker() as session:
            async with session.begin():
                await release_inventory(
                    session,
                    booking_id=booking.id,
                    cabin=booking.cabin,
                    flight_seat_counts=booking.seat_counts,
                )
            # Marked only once the release has committed (release_inventory is idempotent).
            async with session.begin():
                store = get_booking_repository(session, settings)
                await store.mark_seats_released(booking.id, at=service.booking_now())
        return True
    except Exception:
        log.exception("could not release the seats of booking %s", booking.id)
        return False


async def sweep_once(sessionmaker: async_sessionmaker[AsyncSession], settings: Settings) -> None:
    """One round of housekeeping: expired holds, unreleased seats, expired idempotency keys."""
    expired = await release_expired_holds(sessionmaker, settings)
    repaired = await repair_unreleased_seats(sessionmaker, settings)
    async with sessionmaker() as session, session.begin():
        purged = await purge_expired_keys(session)
    if expired or repaired or purged:
        log.info(
            "hold sweeper: %d holds expired, %d releases repaired, %d idempotency keys purged",
            expired,
            repaired,
            purged,
        )


def build_hold_sweeper(
    sessionmaker: async_sessionmaker[AsyncSession], settings: Settings
) -> BackgroundWorker | None:
    """The sweeper: `sweep_once` every `settings.hold_sweep_seconds`, an error logged and the
    next round run as usual (None when `hold_sweep_seconds` is 0: disabled)."""
    if settings.hold_sweep_seconds <= 0:
        return None
    return BackgroundWorker(
        "hold-sweeper",
        partial(sweep_once, sessionmaker, settings),
        interval=settings.hold_sweep_seconds,
    )
