"""Reads of what a booking store holds, the same for the SQL and the MongoDB store, so one
test asserts on either (see tests/bookings/conftest.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from flightdeck.bookings.mongo_client import BookingCollection, bookings_collection, is_mongo_url
from flightdeck.bookings.records import BookingRecord
from flightdeck.bookings.repository import BookingRepository
from flightdeck.bookings.stores import booking_repository
from flightdeck.platform.settings import Settings
from tests.servers.mongo import MongoServer

# Requests fail within a second while a test server is stopped (production: 3 s).
MONGO_TEST_OPTIONS = "serverSelectionTimeoutMS=1000"


def mongo_settings(settings: Settings, server: MongoServer) -> Settings:
    """The SQL backend's settings with bookings in MongoDB (a database per SQL backend).
    No background sweeper: tests run its passes themselves, so none races their asserts."""
    database = "flightdeck_sqlite" if settings.is_sqlite else "flightdeck_postgres"
    url = f"{server.url(database)}?{MONGO_TEST_OPTIONS}"
    return settings.model_copy(update={"bookings_store_url": url, "hold_sweep_seconds": 0})


def uses_mongo(app: FastAPI) -> bool:
    return is_mongo_url(app.state.settings.bookings_store_url)


def mongo_collection(app: FastAPI) -> BookingCollection:
    return bookings_collection(app.state.settings.bookings_store_url)


@asynccontextmanager
async def store_of(app: FastAPI) -> AsyncIterator[BookingRepository]:
    """The app's booking store on a fresh SQL session, committed on exit."""
    maker: async_sessionmaker[AsyncSession] = app.state.sessionmaker
    async with maker() as session, session.begin():
        yield booking_repository(session)


async def stored_booking(app: FastAPI, booking_id: str) -> BookingRecord | None:
    async with store_of(app) as store:
        return await store.get(booking_id)


async def stored_status(app: FastAPI, booking_id: str) -> str:
    booking = await stored_booking(app, booking_id)
    assert booking is not None, f"booking {booking_id} is not stored"
    return booking.status


async def stored_bookings_on_flight(app: FastAPI, flight_id: str) -> list[BookingRecord]:
    """The pending and confirmed bookings with a segment on the flight."""
    async with store_of(app) as store:
        return await store.list_active_on_flight(flight_id)


async def count_stored_bookings(app: FastAPI) -> int:
    if uses_mongo(app):
        return await mongo_collection(app).count_documents({})
    return int(await _sql_scalar(app, "SELECT count(*) FROM bookings"))


async def stored_passenger_fields(app: FastAPI) -> list[tuple[str | None, str]]:
    """(passport_number, date_of_birth) of every stored passenger, as held at rest."""
    if uses_mongo(app):
        documents = await mongo_collection(app).find({}, {"passengers": 1}).to_list()
        return [
            (p["passport_number"], p["date_of_birth"])
            for document in documents
            for p in document["passengers"]
        ]
    maker: async_sessionmaker[AsyncSession] = app.state.sessionmaker
    async with maker() as session:
        rows = await session.execute(
            text("SELECT passport_number, date_of_birth FROM booking_passengers")
        )
        return [(passport, born) for passport, born in rows.all()]


async def empty_mongo_store(app: FastAPI) -> None:
    if uses_mongo(app):
        await mongo_collection(app).delete_many({})


async def _sql_scalar(app: FastAPI, sql: str) -> Any:
    maker: async_sessionmaker[AsyncSession] = app.state.sessionmaker
    async with maker() as session:
        return (await session.execute(text(sql))).scalar_one()
