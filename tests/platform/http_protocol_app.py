"""A small ASGI app for tests/platform/test_http_protocol.py: what `flightdeck serve`'s HTTP
protocol must carry unchanged (a plain answer, a stream of small and large chunks, a large
body, a head whose body waits, a WebSocket). Served by uvicorn in a process of its own, or
in the test's loop (`serving`)."""

from __future__ import annotations

import asyncio

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

# A stream's chunks, of a few bytes to past the transport's buffer: each is held and paired.
CHUNKS = [bytes([65 + i % 26]) * size for i, size in enumerate([10, 5000, 3, 7, 70_000, 1, 2])]
LARGE_BODY = bytes(range(256)) * 8192  # 2 MiB: past the transport's high-water mark
# Set by the test once the head of /waiting has reached it; only then is the body sent.
head_received = asyncio.Event()


async def healthz(request: Request) -> Response:
    return PlainTextResponse("ok")


async def hello(request: Request) -> Response:
    return JSONResponse({"hello": "world"})


async def stream(request: Request) -> Response:
    async def chunks() -> object:
        for chunk in CHUNKS:
            yield chunk

    return StreamingResponse(chunks(), media_type="application/octet-stream")


async def large(request: Request) -> Response:
    return Response(LARGE_BODY, media_type="application/octet-stream")


async def waiting(request: Request) -> Response:
    async def body() -> object:
        await asyncio.wait_for(head_received.wait(), 10)
        yield b"after the head"

    return StreamingResponse(body(), media_type="text/plain")


async def echo(websocket: WebSocket) -> None:
    await websocket.accept()
    while True:
        text = await websocket.receive_text()
        await websocket.send_text(text.upper())


app = Starlette(
    routes=[
        Route("/healthz", healthz),
        Route("/hello", hello, methods=["GET", "HEAD"]),
        Route("/stream", stream),
        Route("/large", large),
        Route("/waiting", waiting),
        WebSocketRoute("/echo", echo),
    ]
)
