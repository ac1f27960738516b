"""Holds answered before routing.

A `POST /bookings` whose body and `Idempotency-Key` validate needs no route: `BookingEdge`
reads and validates them as the route's parameters would (the JSON body parsed, then the
model; the header's length) and answers with the route's own `hold_response`, inside the
platform's middleware (request context, metrics, body caps, rate limits and their headers
all apply) but before FastAPI matches a route, reads the body again and runs its exception
layers (platform/edge.py). An exception the hold raises is answered by the app's handler
for it, as the exception layer would (a 409 `seats_unavailable`, a 401, the hold limit's
429); one with no handler there goes on up, as from the route.

Everything else goes on to the route with the body replayed, and is answered exactly as it
would be alone: a body or header that does not validate (its 422, or the 401 that comes
first), one FastAPI reads that the edge does not (no declared `Content-Length`, a JSON
content type other than `application/json`), and a client gone before its body arrived.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import ValidationError
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from flightdeck.bookings.router import HOLD_ANSWERS, hold_response, router
from flightdeck.bookings.schemas import BookingCreate
from flightdeck.platform.edge import exception_handler, read_body, replaying, route_path
from flightdeck.platform.idempotency import IDEMPOTENCY_KEY_HEADER, IDEMPOTENCY_KEY_MAX_LENGTH

_ROUTE: Any = next(
    route
    for route in router.routes
    if getattr(route, "path", "") == "/bookings" and "POST" in getattr(route, "methods", ())
)
_FROM_EDGE = HOLD_ANSWERS.labels("edge")
_KEY_HEADER = IDEMPOTENCY_KEY_HEADER.lower().encode("latin-1")


class BookingEdge:
    """Answers `POST /bookings` before routing when its input validates; passes everything
    else on."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] != "POST"
            or route_path(scope) != _ROUTE.path
            or not _declared_json(scope)
        ):
            await self.app(scope, receive, send)
            return
        messages, body = await read_body(receive)
        receive = replaying(messages, receive)
        parsed = _parsed(scope, body)
        if parsed is None:
            await self.app(scope, receive, send)  # the route answers (a 422, a 401 first)
            return
        data, key = parsed
        scope["route"] = _ROUTE  # what routing would have set (metrics label it /bookings)
        request = Request(scope, receive)
        try:
            response = await hold_response(request, data, key)
        except Exception as exc:
            handler = exception_handler(request, exc)
            if handler is None:
                raise
            response = await handler(request, exc)
        _FROM_EDGE.inc()
        await response(scope, receive, send)


def _declared_json(scope: Scope) -> bool:
    """A body of declared length (the body cap has checked it) and type `application/json`."""
    length: bytes | None = None
    content_type: bytes | None = None
    for name, value in scope["headers"]:  # the first of each, as the route reads them
        if name == b"content-length" and length is None:
            length = value
        elif name == b"content-type" and content_type is None:
            content_type = value
    if length is None or not length.isdigit() or content_type is None:
        return False
    return content_type.split(b";", 1)[0].strip().lower() == b"application/json"


def _parsed(scope: Scope, body: bytes | None) -> tuple[BookingCreate, str | None] | None:
    """The body and the idempotency key as the route's parameters validate them; None when
    either would not (or the body never arrived)."""
    if not body:
        return None
    keys = [value for name, value in scope["headers"] if name == _KEY_HEADER]
    key = keys[0].decode("latin-1") if keys else None
    if key is not None and not 1 <= len(key) <= IDEMPOTENCY_KEY_MAX_LENGTH:
        return None
    try:
        return BookingCreate.model_validate(json.loads(body)), key
    except ValidationError:
        return None
    except Exception:  # JSON or UTF-8 that does not decode, nesting too deep: the route's 400
        return None
