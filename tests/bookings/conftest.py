"""Booking tests run once per booking store: SQL (the default) and MongoDB.

`booking_store` is "sql" or "mongo"; for "mongo", `app` is a second app on the same SQL
database whose `bookings_store_url` points at a real MongoDB-protocol server (SecantusDB,
started once for the session, in this process). Seat inventory, idempotency keys and the
outbox stay in SQL either way.

In these tests read the store's settings from `app.state.settings` (the `settings` fixture
is the SQL one), and read stored bookings through `tests.bookings.stores`, not SQL.
A test about one store only pins it:
`@pytest.mark.parametrize("booking_store", ["mongo"], indirect=True)`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
import pytest_asyncio
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from flightdeck.app import create_app
from flightdeck.platform.settings import Settings
from tests.bookings.stores import empty_mongo_store, mongo_settings
from tests.servers.mongo import MongoServer, running_mongo

BOOKING_STORES = ["sql", "mongo"]


@pytest.fixture(scope="session")
def mongo_server() -> Iterator[MongoServer]:
    with running_mongo() as server:
        yield server


@pytest.fixture(scope="session", params=BOOKING_STORES)
def booking_store(request: pytest.FixtureRequest) -> str:
    store: str = request.param
    return store


@pytest_asyncio.fixture(scope="package", loop_scope="session")
async def app(
    app: FastAPI, booking_store: str, settings: Settings, request: pytest.FixtureRequest
) -> AsyncIterator[FastAPI]:
    """The suite's app (SQL store), or one with the MongoDB store on the same SQL database.
    The MongoDB one stops with this package: left running, its workers (the outbox relay)
    would take later packages' events on the shared database."""
    if booking_store == "sql":
        yield app
        return
    server: MongoServer = request.getfixturevalue("mongo_server")
    application = create_app(mongo_settings(settings, server))
    async with LifespanManager(application):
        yield application


@pytest_asyncio.fixture(loop_scope="session")
async def client(client: httpx.AsyncClient, app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """The suite's client; afterwards the MongoDB store is emptied too (SQL tables are)."""
    yield client
    await empty_mongo_store(app)
