"""With bookings in MongoDB (which commits apart from SQL), cancelling a paid booking while
the gateway is down still answers 200: the refund is queued in SQL and made afterwards."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import timedelta

import httpx
import pytest
import pytest_asyncio
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from flightdeck.app import create_app
from flightdeck.payments.gateways.sandbox import SandboxGateway
from flightdeck.payments.refund_worker import RefundWorker
from flightdeck.platform.clock import clock
from flightdeck.platform.settings import Settings
from tests.bookings.stores import empty_mongo_store, mongo_settings, stored_status
from tests.conftest import TestUser
from tests.payments.factories import held_booking, paid, payment_read
from tests.servers.mongo import MongoServer, running_mongo

pytestmark = pytest.mark.asyncio(loop_scope="session")


@pytest.fixture(scope="module")
def mongo_server() -> Iterator[MongoServer]:
    with running_mongo() as server:
        yield server


@pytest_asyncio.fixture(loop_scope="session")
async def mongo_app(
    app: FastAPI, settings: Settings, mongo_server: MongoServer
) -> AsyncIterator[FastAPI]:
    """A second app on the same SQL database, keeping its bookings in MongoDB."""
    application = create_app(mongo_settings(settings, mongo_server))
    async with LifespanManager(application):
        yield application
        await empty_mongo_store(application)


@pytest_asyncio.fixture(loop_scope="session")
async def mongo_client(
    client: httpx.AsyncClient, mongo_app: FastAPI
) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=mongo_app, client=("203.0.113.11", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


async def test_cancelling_a_paid_mongo_booking_with_the_gateway_down_refunds_it_later(
    mongo_app: FastAPI,
    mongo_client: httpx.AsyncClient,
    agent: TestUser,
    passenger: TestUser,
    refund_worker: RefundWorker,
) -> None:
    # The gateway is the one this app's lifespan configured: its sandbox, behind its breaker.
    sandbox: SandboxGateway = mongo_app.state.payment_gateway.inner
    booking = await held_booking(mongo_client, agent.headers, passenger.headers)
    payment = await paid(mongo_client, passenger.headers, booking["id"])
    sandbox.outage = True
    response = await mongo_client.delete(f"/bookings/{booking['id']}", headers=passenger.headers)
    assert response.status_code == 200, response.text
    assert await stored_status(mongo_app, booking["id"]) == "cancelled"
    pending = await payment_read(mongo_client, passenger.headers, payment["id"])
    assert [r["status"] for r in pending["refunds"]] == ["pending"]

    sandbox.outage = False
    clock.advance(timedelta(minutes=1))  # past any backoff of the attempts made meanwhile
    worker: RefundWorker = mongo_app.state.workers["refund-worker"]
    await worker.refund_due()
    after = await payment_read(mongo_client, passenger.headers, payment["id"])
    assert after["status"] == "refunded"
    assert [r["status"] for r in after["refunds"]] == ["succeeded"]
    assert sandbox.refund_count == 1
