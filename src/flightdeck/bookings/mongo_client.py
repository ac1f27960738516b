"""The MongoDB booking store's connection: one `AsyncMongoClient` per process and store URL.

The app's lifespan opens the store named by `FLIGHTDECK_BOOKINGS_STORE_URL` (creating the
indexes) and closes it at shutdown; requests reach the open collection through
`bookings_collection(url)`. The database is the URL's path (`mongodb://host/flightdeck_prod`),
or "flightdeck" when the URL names none.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from bson.codec_options import CodecOptions
from pymongo import ASCENDING, DESCENDING, AsyncMongoClient
from pymongo.asynchronous.collection import AsyncCollection

from flightdeck.platform.settings import Settings

log = logging.getLogger(__name__)

MONGO_URL_SCHEMES = ("mongodb://", "mongodb+srv://")
DEFAULT_DATABASE = "flightdeck"
COLLECTION = "bookings"
# Defaults for options the URL does not set itself (a URL option always wins): a store that
# is down fails a request within seconds (503) instead of hanging it.
DEFAULT_CLIENT_OPTIONS: dict[str, Any] = {
    "serverSelectionTimeoutMS": 3000,
    "connectTimeoutMS": 3000,
    # A reply that never comes; not timeoutMS, under which the driver retries until it runs out.
    "socketTimeoutMS": 10000,
    "appname": "flightdeck",
}
# Instants come back as aware UTC datetimes, like the SQL store's.
CODEC_OPTIONS: CodecOptions[dict[str, Any]] = CodecOptions(tz_aware=True, tzinfo=UTC)

BookingDocument = dict[str, Any]
BookingCollection = AsyncCollection[BookingDocument]


def is_mongo_url(url: str) -> bool:
    return url.startswith(MONGO_URL_SCHEMES)


@dataclass
class _OpenStore:
    client: AsyncMongoClient[BookingDocument]
    collection: BookingCollection
    users: int = 1


# Keyed by URL; `users` counts the apps in this process that opened it.
_stores: dict[str, _OpenStore] = {}


def create_client(url: str) -> tuple[AsyncMongoClient[BookingDocument], BookingCollection]:
    """A client for the URL (no I/O yet: pymongo connects in the background) and its
    `bookings` collection."""
    given = {name.lower() for name, _ in parse_qsl(urlsplit(url).query)}
    options = {k: v for k, v in DEFAULT_CLIENT_OPTIONS.items() if k.lower() not in given}
    client: AsyncMongoClient[BookingDocument] = AsyncMongoClient(
        url, tz_aware=True, tzinfo=UTC, **options
    )
    database = client.get_default_database(DEFAULT_DATABASE)
    return client, database.get_collection(COLLECTION, codec_options=CODEC_OPTIONS)


async def ensure_indexes(collection: BookingCollection) -> None:
    """Creates the store's indexes (a no-op for those that exist)."""
    await collection.create_index("pnr", unique=True, name="pnr_unique")
    # GET /bookings: a user's bookings newest first, then by id (the cursor's tie-break).
    await collection.create_index(
        [("user_id", ASCENDING), ("created_at", DESCENDING), ("_id", DESCENDING)],
        name="user_created",
    )
    # The sweeper: pending holds by expiry.
    await collection.create_index(
        [("status", ASCENDING), ("hold_expires_at", ASCENDING)], name="status_hold_expires"
    )
    # Flight cancellation: the bookings with a segment on the flight.
    await collection.create_index("segments.flight_id", name="segment_flight")
    # The admin listing (newest first, also by status) and reports by service date.
    await collection.create_index([("created_at", DESCENDING), ("_id", DESCENDING)], name="created")
    await collection.create_index(
        [("status", ASCENDING), ("created_at", DESCENDING), ("_id", DESCENDING)],
        name="status_created",
    )
    await collection.create_index("segments.service_date", name="segment_service_date")
    # The sweeper's repair pass: sparse, so it holds only bookings whose seats await release.
    await collection.create_index("release_pending_since", sparse=True, name="release_pending")


async def open_bookings_store(url: str) -> BookingCollection:
    """Opens the store at `url` for this process (or shares the one open) and makes sure
    its indexes exist; raises the driver's error when the server cannot be reached."""
    store = _stores.get(url)
    if store is not None:
        store.users += 1
        return store.collection
    client, collection = create_client(url)
    try:
        await ensure_indexes(collection)
    except BaseException:
        await client.close()
        raise
    _stores[url] = _OpenStore(client, collection)
    log.info("bookings store: MongoDB database %s", collection.database.name)
    return collection


async def close_bookings_store(url: str) -> None:
    """Closes the store once the last app that opened it lets go."""
    store = _stores.get(url)
    if store is None:
        return
    store.users -= 1
    if store.users <= 0:
        del _stores[url]
        await store.client.close()


def bookings_collection(url: str) -> BookingCollection:
    """The open store's collection; RuntimeError when the app did not open it."""
    store = _stores.get(url)
    if store is None:
        raise RuntimeError(
            "the MongoDB bookings store is not open: the app's lifespan opens it "
            "(open_bookings_store)"
        )
    return store.collection


async def open_configured_store(settings: Settings) -> None:
    """Opens the store `settings.bookings_store_url` names when it is MongoDB (nothing to do
    for the SQL store)."""
    if is_mongo_url(settings.bookings_store_url):
        await open_bookings_store(settings.bookings_store_url)


async def close_configured_store(settings: Settings) -> None:
    """Closes what `open_configured_store` opened."""
    if is_mongo_url(settings.bookings_store_url):
        await close_bookings_store(settings.bookings_store_url)


async def ping_configured_store(settings: Settings) -> None:
    """Raises when the configured MongoDB store does not answer (readiness)."""
    await bookings_collection(settings.bookings_store_url).database.command("ping")
