"""Pure ASGI middleware every server runs: a cap on request bodies, enforced while they stream
in, and one complete error response after an unexpected error, on a connection that stays
usable.

Why not Starlette's own: its `ServerErrorMiddleware` (the outermost layer) sends the 500 and
then re-raises the exception so that servers can log it; uvicorn, seeing an exception after a
response has started, closes the transport without a `Connection: close`, so a client's next
request on the kept-alive connection fails as well. `UnexpectedErrorMiddleware` sits inside it,
logs the error, answers in the one error shape and returns normally, so uvicorn finishes the
cycle and keeps the connection.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from flightdeck.platform.errors import error_payload, unexpected_error_response
from flightdeck.platform.settings import Settings

MULTIPART = "multipart/form-data"


class UnexpectedErrorMiddleware:
    """Turns an exception escaping the app into one response in the error shape: a 503 with
    `Retry-After` when a server the request needed did not answer (the database down or
    restarting: `errors.dependency_unavailable`), else the 500 of a bug. A response that had
    already started cannot be replaced: then the exception goes on, and the server closes the
    connection (the only honest end of a half-sent response)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def send_tracking_start(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, send_tracking_start)
        except Exception as exc:
            if started:
                raise
            response = unexpected_error_response(exc, scope.get("method"), scope.get("path"))
            await response(scope, receive, send)


class PayloadTooLarge(HTTPException):
    """Raised from `receive()` once a streamed body passes its cap. An HTTPException, so that
    FastAPI's body parsing lets it through and the error handlers answer it (413)."""

    def __init__(self, limit: int) -> None:
        super().__init__(
            status_code=413,
            detail=f"The request body is larger than {limit:,} bytes",
            headers={"Connection": "close"},  # the rest of the body is never read
        )


class BodySizeLimitMiddleware:
    """Caps request bodies: `max_upload_bytes` for multipart uploads (the SSIM import),
    `max_body_bytes` for everything else. A declared Content-Length over the cap is answered
    413 before the app runs; a chunked or under-declared body is counted as it streams in and
    cut off at the cap, so an oversized body is never held in memory."""

    def __init__(self, app: ASGIApp, *, max_body_bytes: int, max_upload_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.max_upload_bytes = max_upload_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        content_type = headers.get("content-type", "").split(";", 1)[0].strip().lower()
        limit = self.max_upload_bytes if content_type == MULTIPART else self.max_body_bytes
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            too_large = PayloadTooLarge(limit)
            response = JSONResponse(
                error_payload("payload_too_large", str(too_large.detail)),
                status_code=413,
                headers=too_large.headers,
            )
            await response(scope, receive, send)
            return
        received = 0

        async def receive_within_limit() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise PayloadTooLarge(limit)
            return message

        await self.app(scope, receive_within_limit, send)


def install_request_guards(app: FastAPI, settings: Settings) -> None:
    """The body cap (inner) and the unexpected-error answer (outer). Add them before the
    metrics and CORS middleware, so that those see (and count) the 500s and 413s."""
    app.add_middleware(
        BodySizeLimitMiddleware,
        max_body_bytes=settings.max_body_bytes,
        max_upload_bytes=settings.max_upload_bytes,
    )
    app.add_middleware(UnexpectedErrorMiddleware)
