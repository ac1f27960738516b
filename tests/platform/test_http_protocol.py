"""The HTTP protocol `flightdeck serve` runs (platform/http_protocol.py): a response's head and
body leave in one write, and everything uvicorn's own protocol carries still arrives whole, in
order and on time: streams of small and large chunks, a large body under flow control, a
head whose body is slow, pipelined requests, HEAD, `Connection: close`, a WebSocket."""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import websockets
from tests.platform import http_protocol_app
from tests.servers.flightdeck_app import AppProcess, serving, start_app

from flightdeck.platform.http_protocol import UVICORN_HTTP

REQUESTS = 300


def _app_server(http: str) -> contextlib.AbstractContextManager[AppProcess]:
    argv = (
        sys.executable, "-m", "uvicorn", "http_protocol_app:app",
        "--app-dir", str(Path(__file__).parent), "--log-level", "warning", "--http", http,
    )  # fmt: skip
    return contextlib.closing(start_app({}, argv=argv, name=f"uvicorn --http {http}"))


def _writes(pid: int) -> int:
    """The write system calls the process has made so far (/proc/<pid>/io, `syscw`)."""
    for line in Path(f"/proc/{pid}/io").read_text().splitlines():
        if line.startswith("syscw:"):
            return int(line.split()[1])
    raise AssertionError("no syscw in /proc/<pid>/io")


def _writes_per_response(server: AppProcess) -> float:
    with httpx.Client(base_url=server.base_url) as client:
        assert client.get("/hello").json() == {"hello": "world"}  # the connection is open
        assert server.pid is not None
        before = _writes(server.pid)
        for _ in range(REQUESTS):
            assert client.get("/hello").status_code == 200
        return (_writes(server.pid) - before) / REQUESTS


def test_a_response_head_and_body_leave_in_one_write() -> None:
    """Counted by the kernel: one write per response, where uvicorn's protocol makes two (the
    control run shows the count sees them)."""
    with _app_server("httptools") as stock:
        assert _writes_per_response(stock) >= 1.9
    with _app_server(UVICORN_HTTP) as ours:
        assert _writes_per_response(ours) <= 1.1


@pytest.fixture
async def url() -> AsyncIterator[str]:
    http_protocol_app.head_received.clear()
    async with serving(http_protocol_app.app) as base_url:
        yield base_url


async def test_streams_and_large_bodies_arrive_whole_and_in_order(url: str) -> None:
    async with httpx.AsyncClient(base_url=url) as client:
        for _ in range(3):  # on one connection, one after the other
            streamed = await client.get("/stream")
            assert streamed.content == b"".join(http_protocol_app.CHUNKS)
            large = await client.get("/large")
            assert large.content == http_protocol_app.LARGE_BODY


async def test_a_head_whose_body_is_slow_leaves_without_waiting_for_it(url: str) -> None:
    async with (
        httpx.AsyncClient(base_url=url, timeout=5) as client,
        client.stream("GET", "/waiting") as response,
    ):
        # The body is sent only once the head has arrived: held for it, this would wait.
        assert response.status_code == 200
        http_protocol_app.head_received.set()
        assert await response.aread() == b"after the head"


async def test_pipelined_requests_head_and_close_are_answered_in_order(url: str) -> None:
    host, port = url.removeprefix("http://").split(":")
    requests = (
        b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n"
        b"HEAD /hello HTTP/1.1\r\nHost: x\r\n\r\n"
        b"GET /stream HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(requests)
    received = await asyncio.wait_for(reader.read(), 5)  # to the server's close
    writer.close()
    answers = received.split(b"HTTP/1.1 200 OK\r\n")
    assert len(answers) == 4 and answers[0] == b""
    assert answers[1].endswith(b'\r\n\r\n{"hello":"world"}')
    assert answers[2].endswith(b"\r\n\r\n")  # HEAD: the head alone
    assert b"content-length: 17" in answers[2]
    assert b"transfer-encoding: chunked" in answers[3]
    assert _dechunked(answers[3].split(b"\r\n\r\n", 1)[1]) == http_protocol_app.CHUNKS


def _dechunked(body: bytes) -> list[bytes]:
    """The chunks of a chunked body, to its last (empty) one."""
    chunks = []
    while True:
        size_line, body = body.split(b"\r\n", 1)
        size = int(size_line, 16)
        if size == 0:
            assert body == b"\r\n"
            return chunks
        chunks.append(body[:size])
        assert body[size : size + 2] == b"\r\n"
        body = body[size + 2 :]


async def test_a_websocket_upgrade_carries_frames_both_ways(url: str) -> None:
    async with websockets.connect(url.replace("http://", "ws://") + "/echo") as ws:
        for text in ["a", "bb", "c" * 10_000]:
            await ws.send(text)
            assert await asyncio.wait_for(ws.recv(), 5) == text.upper()
