"""End-to-end check of the throwaway Redis helper (real redis-server, real redis.asyncio)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator

import pytest
import pytest_asyncio
import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError

from .process import port_accepts
from .redis import RedisServer, running_redis

pytestmark = pytest.mark.asyncio(loop_scope="session")


@pytest.fixture(scope="module")
def server() -> Iterator[RedisServer]:
    started = time.perf_counter()
    with running_redis() as redis_server:
        print(f"redis start-up: {time.perf_counter() - started:.2f}s")
        yield redis_server
    assert not port_accepts(redis_server.host, redis_server.port)
    assert not redis_server.log_path.parent.exists()


@pytest_asyncio.fixture(loop_scope="session")
async def client(server: RedisServer) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(server.url(), socket_timeout=2, socket_connect_timeout=2)
    try:
        yield client
    finally:
        await client.aclose()


async def test_set_get_expire(server: RedisServer, client: aioredis.Redis) -> None:
    assert server.url() == f"redis://127.0.0.1:{server.port}/0"
    assert (await client.info("server"))["redis_version"].startswith("6.2.")
    await client.set("flight:FD1", "on-time")
    assert await client.get("flight:FD1") == b"on-time"
    await client.set("hold:seat-12A", "ada", px=150)
    assert 0 < await client.pttl("hold:seat-12A") <= 150
    await asyncio.sleep(0.3)
    assert await client.get("hold:seat-12A") is None
    assert await client.expire("flight:FD1", 60)
    assert 0 < await client.ttl("flight:FD1") <= 60


async def test_pubsub_round_trip(client: aioredis.Redis) -> None:
    async with client.pubsub() as pubsub:
        await pubsub.subscribe("flight-status")
        assert await client.publish("flight-status", "FD1 delayed") == 1
        async with asyncio.timeout(5):
            while True:
                message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1)
                if message is not None:
                    break
        assert message["channel"] == b"flight-status"
        assert message["data"] == b"FD1 delayed"


async def test_stop_then_restart_on_same_port(server: RedisServer, client: aioredis.Redis) -> None:
    await client.set("cached", "1")
    port = server.port
    server.stop()
    assert not server.is_running and not port_accepts(server.host, port)
    with pytest.raises(RedisConnectionError):
        await client.get("cached")

    started = time.perf_counter()
    server.restart()
    print(f"redis restart: {time.perf_counter() - started:.2f}s")
    assert server.is_running and server.port == port
    # The same client reconnects by itself; the restarted server is empty.
    assert await client.get("cached") is None
    await client.set("cached", "2")
    assert await client.get("cached") == b"2"
