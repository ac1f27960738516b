"""The MongoDB store's own concerns: the client it builds from the URL, its indexes, its
documents at rest, and the retried insert."""

from __future__ import annotations

from dataclasses import replace

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from pymongo.errors import DuplicateKeyError
from sqlalchemy.ext.asyncio import AsyncSession

from flightdeck.app import create_app
from flightdeck.bookings.mongo_client import DEFAULT_DATABASE, bookings_collection, create_client
from flightdeck.bookings.repository_mongo import MongoBookingRepository
from flightdeck.platform.settings import Settings
from tests.bookings.stores import mongo_collection, stored_booking
from tests.bookings.test_mongo_store_contract import add, created, make_booking

pytestmark = pytest.mark.asyncio(loop_scope="session")
mongo_only = pytest.mark.parametrize("booking_store", ["mongo"], indirect=True)


@pytest.mark.parametrize(
    ("url", "database"),
    [
        ("mongodb://127.0.0.1:27017/bookings_prod", "bookings_prod"),
        ("mongodb://127.0.0.1:27017/", DEFAULT_DATABASE),
        ("mongodb://127.0.0.1:27017", DEFAULT_DATABASE),
    ],
)
async def test_the_database_is_the_urls_path_or_flightdeck(url: str, database: str) -> None:
    client, collection = create_client(url)
    try:
        assert (collection.database.name, collection.name) == (database, "bookings")
    finally:
        await client.close()


async def test_timeouts_default_to_seconds_and_the_url_may_override_them() -> None:
    default, _ = create_client("mongodb://127.0.0.1:27017/fd")
    tuned, _ = create_client("mongodb://127.0.0.1:27017/fd?serverSelectionTimeoutMS=250")
    try:
        assert default.options.server_selection_timeout == 3.0
        assert default.options.pool_options.socket_timeout == 10.0
        assert tuned.options.server_selection_timeout == 0.25
    finally:
        await default.close()
        await tuned.close()


async def test_a_store_url_of_another_kind_refuses_to_start(settings: Settings) -> None:
    misconfigured = create_app(settings.model_copy(update={"bookings_store_url": "redis://x"}))
    with pytest.raises(RuntimeError, match="no such booking store"):
        async with LifespanManager(misconfigured):
            pass


async def test_a_store_the_app_did_not_open_is_an_error() -> None:
    with pytest.raises(RuntimeError, match="not open"):
        bookings_collection("mongodb://127.0.0.1:1/never-opened")


@mongo_only
async def test_startup_creates_the_indexes(client: httpx.AsyncClient, app: FastAPI) -> None:
    indexes = await mongo_collection(app).index_information()
    keys = {name: index["key"] for name, index in indexes.items()}
    assert keys["pnr_unique"] == [("pnr", 1)] and indexes["pnr_unique"]["unique"]
    assert keys["user_created"] == [("user_id", 1), ("created_at", -1), ("_id", -1)]
    assert keys["status_hold_expires"] == [("status", 1), ("hold_expires_at", 1)]
    assert keys["segment_flight"] == [("segments.flight_id", 1)]
    assert keys["release_pending"] == [("release_pending_since", 1)]
    assert indexes["release_pending"]["sparse"]


@mongo_only
async def test_a_booking_is_one_document_with_nested_passengers_and_segments(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    booking = make_booking()
    await add(app, booking)
    document = await mongo_collection(app).find_one({"_id": booking.id})
    assert document is not None
    assert (document["pnr"], document["status"]) == (booking.pnr, "pending_payment")
    assert [s["flight_id"] for s in document["segments"]] == booking.flight_ids
    assert document["segments"][0]["seats"] == ["12A", None]
    assert document["total_price"] == {"amount": 114000, "currency": "USD"}
    assert document["hold_expires_at"] == booking.hold_expires_at
    [grace, alan] = document["passengers"]
    assert (grace["first_name"], alan["passport_number"]) == ("Grace", None)
    assert grace["passport_number"].startswith("v1:") and "98765" not in str(document)
    assert "1986-12-09" not in str(document) and "1990-06-23" not in str(document)


@mongo_only
async def test_an_insert_retried_after_a_lost_reply_counts_as_stored(
    client: httpx.AsyncClient, app: FastAPI, db: AsyncSession
) -> None:
    booking = make_booking()
    store = MongoBookingRepository(mongo_collection(app), db)
    await store.add(booking, created(booking))
    # What the driver's retry of a lost reply looks like.
    await store.add(booking, created(booking))
    with pytest.raises(DuplicateKeyError):  # the same id for another booking is a bug
        other = replace(booking, pnr="OTHER2")
        await store.add(other, created(other))
    await db.rollback()
    assert await stored_booking(app, booking.id) == booking
    assert await mongo_collection(app).count_documents({}) == 1
