"""End-to-end check of the throwaway MongoDB helper (real SecantusDB server, real pymongo)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from pymongo import ASCENDING, AsyncMongoClient
from pymongo.errors import DuplicateKeyError

from .mongo import MongoServer, running_mongo
from .process import port_accepts

pytestmark = pytest.mark.asyncio(loop_scope="session")


@pytest_asyncio.fixture(loop_scope="session", scope="module")
async def mongo() -> AsyncIterator[MongoServer]:
    started = time.perf_counter()
    with running_mongo() as server:
        print(f"mongo start-up: {time.perf_counter() - started:.2f}s")
        yield server
    assert not port_accepts(server.host, server.port)


@pytest_asyncio.fixture(loop_scope="session")
async def client(mongo: MongoServer) -> AsyncIterator[AsyncMongoClient[dict[str, object]]]:
    client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(
        mongo.uri, serverSelectionTimeoutMS=5000
    )
    try:
        yield client
    finally:
        await client.drop_database("flightdeck_test")
        await client.close()


async def test_insert_find_and_unique_index(
    mongo: MongoServer, client: AsyncMongoClient[dict[str, object]]
) -> None:
    assert mongo.uri == f"mongodb://127.0.0.1:{mongo.port}/"
    hello = await client.admin.command("hello")
    assert hello["setName"] == mongo.replica_set and hello["isWritablePrimary"]

    flights = client.flightdeck_test.flights
    await flights.create_index([("code", ASCENDING)], unique=True)
    await flights.insert_many([{"code": "FD1", "seats": 120}, {"code": "FD2", "seats": 80}])
    found = await flights.find_one({"code": "FD2"}, {"_id": 0})
    assert found == {"code": "FD2", "seats": 80}
    with pytest.raises(DuplicateKeyError) as excinfo:
        await flights.insert_one({"code": "FD1", "seats": 1})
    assert excinfo.value.code == 11000
    assert await flights.count_documents({}) == 2


async def test_transaction_commit_and_abort(client: AsyncMongoClient[dict[str, object]]) -> None:
    bookings = client.flightdeck_test.bookings
    await bookings.insert_one({"ref": "seed"})  # create the collection outside a transaction
    async with client.start_session() as session:
        await session.start_transaction()
        await bookings.insert_one({"ref": "kept"}, session=session)
        # Snapshot isolation: other sessions do not see uncommitted writes.
        assert await bookings.count_documents({"ref": "kept"}) == 0
        await session.commit_transaction()

        await session.start_transaction()
        await bookings.insert_one({"ref": "dropped"}, session=session)
        assert await bookings.count_documents({}, session=session) == 3
        await session.abort_transaction()

    refs = sorted([str(doc["ref"]) async for doc in bookings.find({}, {"_id": 0})])
    assert refs == ["kept", "seed"]


async def test_aggregation(client: AsyncMongoClient[dict[str, object]]) -> None:
    legs = client.flightdeck_test.legs
    await legs.insert_many(
        [
            {"flight": "FD1", "minutes": 90},
            {"flight": "FD1", "minutes": 60},
            {"flight": "FD2", "minutes": 45},
        ]
    )
    pipeline: list[dict[str, object]] = [
        {"$group": {"_id": "$flight", "total": {"$sum": "$minutes"}, "legs": {"$sum": 1}}},
        {"$sort": {"_id": 1}},
    ]
    cursor = await legs.aggregate(pipeline)
    assert await cursor.to_list() == [
        {"_id": "FD1", "total": 150, "legs": 2},
        {"_id": "FD2", "total": 45, "legs": 1},
    ]


async def test_restart_on_same_port_starts_empty(
    mongo: MongoServer, client: AsyncMongoClient[dict[str, object]]
) -> None:
    await client.flightdeck_test.flights.insert_one({"code": "FD9"})
    port = mongo.port
    mongo.restart()
    assert mongo.is_running and mongo.port == port
    # The same client reconnects: pymongo's retryable reads/writes absorb the one failure
    # on the pooled connection that the restart closed.
    flights = client.flightdeck_test.flights
    assert await flights.count_documents({}) == 0
    await flights.insert_one({"code": "FD10"})
    assert await flights.count_documents({}) == 1
