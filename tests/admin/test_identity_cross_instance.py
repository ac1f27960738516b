"""Two real server processes sharing one PostgreSQL database and one Kafka broker: an agent
demoted on instance A is refused by instance B too, as soon as the `user.changed` event
reaches B — long before B's cached identity would have expired on its own."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
import pytest_asyncio
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from flightdeck.platform.db import create_engine, create_sessionmaker
from flightdeck.platform.migrations import upgrade_database
from flightdeck.platform.security.passwords import hash_password
from flightdeck.platform.security.tokens import issue_access_token
from flightdeck.platform.settings import Settings
from flightdeck.users.models import User
from tests.conftest import TEST_PASSWORD, make_settings
from tests.notifications.helpers import eventually
from tests.notifications.test_cross_instance import instance_env
from tests.servers.flightdeck_app import running_apps
from tests.servers.kafka import KafkaBroker, running_kafka

pytestmark = pytest.mark.asyncio(loop_scope="session")

# Far longer than the test: only the bus can make B forget what it cached.
IDENTITY_CACHE_SECONDS = "600"


@pytest.fixture(scope="module")
def broker() -> Iterator[KafkaBroker]:
    with running_kafka() as server:
        yield server


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def shared_settings(postgres_root_url: str) -> AsyncIterator[Settings]:
    """A fresh database on the suite's PostgreSQL, migrated, dropped afterwards."""
    name = f"flightdeck_id_{uuid.uuid4().hex[:10]}"
    root = create_async_engine(postgres_root_url, isolation_level="AUTOCOMMIT")
    try:
        async with root.connect() as conn:
            await conn.execute(text(f'CREATE DATABASE "{name}"'))
        url = make_url(postgres_root_url).set(database=name).render_as_string(hide_password=False)
        settings = make_settings(url)
        await asyncio.to_thread(upgrade_database, settings)
        yield settings
        async with root.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        await root.dispose()


async def _bearer(settings: Settings, role: str) -> tuple[str, dict[str, str]]:
    engine = create_engine(settings)
    try:
        async with create_sessionmaker(engine)() as session:
            user = User(
                email=f"{role}-{os.urandom(4).hex()}@example.com",
                password_hash=await asyncio.to_thread(hash_password, TEST_PASSWORD),
                full_name=f"Instance {role}",
                role=role,
            )
            session.add(user)
            await session.commit()
    finally:
        await engine.dispose()
    token, _ = issue_access_token(settings, user.id, role)
    return user.id, {"Authorization": f"Bearer {token}"}


async def test_an_agent_demoted_on_instance_a_is_refused_by_instance_b(
    shared_settings: Settings, broker: KafkaBroker
) -> None:
    env = instance_env(shared_settings, broker, f"id{uuid.uuid4().hex[:8]}")
    env["FLIGHTDECK_IDENTITY_CACHE_SECONDS"] = IDENTITY_CACHE_SECONDS
    _, admin = await _bearer(shared_settings, "admin")
    agent_id, agent = await _bearer(shared_settings, "agent")
    with running_apps(env, env) as (instance_a, instance_b):
        async with httpx.AsyncClient(timeout=10) as http:
            # B reads the agent once and caches it (for ten minutes, were it not told).
            schedules_on_b = f"{instance_b.base_url}/schedules"
            assert (await http.get(schedules_on_b, headers=agent)).status_code == 200

            demoted = await http.patch(
                f"{instance_a.base_url}/admin/users/{agent_id}",
                json={"role": "passenger"},
                headers=admin,
            )
            assert demoted.status_code == 200, demoted.text
            on_a = await http.get(f"{instance_a.base_url}/schedules", headers=agent)
            assert on_a.status_code == 403, on_a.text  # the instance that changed it: at once

            async def refused_by_b() -> bool:
                response = await http.get(schedules_on_b, headers=agent)
                return response.status_code == 403

            await eventually(refused_by_b, timeout=15, what="B refuses the demoted agent")
            assert (
                await http.get(f"{instance_b.base_url}/profile", headers=agent)
            ).status_code == 200
