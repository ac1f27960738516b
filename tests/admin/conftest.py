"""Admin tests: the booking listing runs on both booking stores (SQL and MongoDB); the rest
on the suite's app (SQLite and PostgreSQL)."""

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


@pytest.fixture(scope="module")
def mongo_server() -> Iterator[MongoServer]:
    with running_mongo() as server:
        yield server


@pytest_asyncio.fixture(loop_scope="session", params=["sql", "mongo"])
async def store_app(
    request: pytest.FixtureRequest, app: FastAPI, settings: Settings
) -> AsyncIterator[FastAPI]:
    """The suite's app (bookings in SQL), or one on the same SQL database with bookings in
    MongoDB."""
    if request.param == "sql":
        yield app
        return
    server: MongoServer = request.getfixturevalue("mongo_server")
    application = create_app(mongo_settings(settings, server))
    async with LifespanManager(application):
        yield application
        await empty_mongo_store(application)


@pytest_asyncio.fixture(loop_scope="session")
async def store_client(
    store_app: FastAPI, client: httpx.AsyncClient
) -> AsyncIterator[httpx.AsyncClient]:
    """A client of `store_app` (the suite's `client` empties the SQL tables afterwards)."""
    transport = httpx.ASGITransport(app=store_app, client=("203.0.113.10", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http
