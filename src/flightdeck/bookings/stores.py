"""Which booking store serves a session: SQL (default) or MongoDB, from the settings."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from flightdeck.bookings.mongo_client import bookings_collection, is_mongo_url
from flightdeck.bookings.repository import BookingRepository
from flightdeck.bookings.repository_mongo import MongoBookingRepository
from flightdeck.bookings.repository_sql import SqlBookingRepository
from flightdeck.platform.settings import Settings

# Key of the app's Settings in `AsyncSession.info` (see `bind_booking_store`).
SETTINGS_INFO_KEY = "flightdeck.settings"


def get_booking_repository(session: AsyncSession, settings: Settings | None) -> BookingRepository:
    """The store the settings name (`bookings_store_url`; empty or no settings: SQL), bound to
    the request's SQL session."""
    if settings is not None and is_mongo_url(settings.bookings_store_url):
        return MongoBookingRepository(bookings_collection(settings.bookings_store_url), session)
    return SqlBookingRepository(session)


def booking_repository(session: AsyncSession) -> BookingRepository:
    """The store for a session made by the app's sessionmaker (see `bind_booking_store`)."""
    settings = session.info.get(SETTINGS_INFO_KEY)
    return get_booking_repository(session, settings if isinstance(settings, Settings) else None)


def bind_booking_store(sessionmaker: async_sessionmaker[AsyncSession], settings: Settings) -> None:
    """Makes every session of the app carry its settings, so code that has only a session
    (the flight-cancellation hook, the payments domain) reaches the configured store.
    Refuses a store URL it cannot serve, at startup rather than on the first request."""
    if settings.bookings_store_url and not is_mongo_url(settings.bookings_store_url):
        raise RuntimeError(
            f"FLIGHTDECK_BOOKINGS_STORE_URL={settings.bookings_store_url!r}: no such booking "
            "store (leave it empty for the SQL database, or a mongodb:// URL)"
        )
    sessionmaker.configure(info={SETTINGS_INFO_KEY: settings})
