"""Fixtures for the event bus and outbox tests: a real Kafka-protocol broker (Tansu) for the
session, and the app's database with its own relay paused (the tests run theirs)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
import pytest_asyncio
from fastapi import FastAPI
from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from tests.servers.kafka import KafkaBroker, running_kafka

from flightdeck.platform.events.consumers import ProcessedEvent
from flightdeck.platform.events.outbox import OutboxEvent


@pytest.fixture(scope="session")
def kafka_broker() -> Iterator[KafkaBroker]:
    with running_kafka() as broker:
        yield broker


@pytest.fixture
def broker(kafka_broker: KafkaBroker) -> Iterator[KafkaBroker]:
    """The session broker, running again after the test even if the test stopped it."""
    if not kafka_broker.is_running:
        kafka_broker.restart()
    yield kafka_broker
    if not kafka_broker.is_running:
        kafka_broker.restart()


async def _clear_event_tables(maker: async_sessionmaker[AsyncSession]) -> None:
    async with maker() as session, session.begin():
        await session.execute(delete(ProcessedEvent))
        await session.execute(delete(OutboxEvent))


@pytest_asyncio.fixture(loop_scope="session")
async def maker(app: FastAPI) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """The app's sessionmaker, with empty event tables and the app's relay paused."""
    relay = app.state.workers["outbox-relay"]
    if relay is not None:
        await relay.stop()
    sessionmaker: async_sessionmaker[AsyncSession] = app.state.sessionmaker
    await _clear_event_tables(sessionmaker)
    yield sessionmaker
    await _clear_event_tables(sessionmaker)
    if relay is not None:
        relay.start()
