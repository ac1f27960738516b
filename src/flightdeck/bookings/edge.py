"""Holds, and reads of one booking, answered before routing.

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

A `GET /bookings/{booking_id}` whose reference validates as the route's path parameter does
is answered the same way, by the route's own `booking_response` (the holds bench reads one
booking beside its holds). The route answers the rest: a reference that does not validate
(its 422) and a request with a query string (which the route ignores).
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from flightdeck.bookings.router import (
    HOLD_ANSWERS,
    READ_ANSWERS,
    booking_response,
    hold_response,
    router,
)
from flightdeck.bookings.schemas import BookingCreate
from flightdeck.platform.edge import exception_handler, read_body, replaying, route_path
from flightdeck.platform.idempotency import IDEMPOTENCY_KEY_HEADER, IDEMPOTENCY_KEY_MAX_LENGTH
from flightdeck.platform.text import RESOURCE_ID_PATTERN


def _route(path: str, method: str) -> Any:
    return next(
        route
        for route in router.routes
        if getattr(route, "path", "") == path and method in getattr(route, "methods", ())
    )


_HOLD: Any = _route("/bookings", "POST")
_READ: Any = _route("/bookings/{booking_id}", "GET")
_HOLD_FROM_EDGE = HOLD_ANSWERS.labels("edge")
_READ_FROM_EDGE = READ_ANSWERS.labels("edge")
_KEY_HEADER = IDEMPOTENCY_KEY_HEADER.lower().encode("latin-1")
_READ_PREFIX = "/bookings/"
_REFERENCE = re.compile(RESOURCE_ID_PATTERN)  # as the route's path parameter (fullmatch)


class BookingEdge:
    """Answers `POST /bookings` and `GET /bookings/{booking_id}` before routing when their
    input validates; passes everything else on."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            method = scope["method"]
            if method == "POST" and route_path(scope) == _HOLD.path and _declared_json(scope):
                await self._hold(scope, receive, send)
                return
            if method == "GET" and (reference := _reference(scope)) is not None:
                scope["path_params"] = {"booking_id": reference}  # as routing sets them
                respond = partial(booking_response, booking_id=reference)
                await _answer(scope, receive, send, _READ, _READ_FROM_EDGE, respond)
                return
        await self.app(scope, receive, send)

    async def _hold(self, scope: Scope, receive: Receive, send: Send) -> None:
        messages, body = await read_body(receive)
        receive = replaying(messages, receive)
        parsed = _parsed(scope, body)
        if parsed is None:
            await self.app(scope, receive, send)  # the route answers (a 422, a 401 first)
            return
        data, key = parsed
        await _answer(
            scope, receive, send, _HOLD, _HOLD_FROM_EDGE, lambda r: hold_response(r, data, key)
        )


async def _answer(
    scope: Scope,
    receive: Receive,
    send: Send,
    route: Any,
    answered: Any,
    respond: Callable[[Request], Awaitable[Response]],
) -> None:
    """Sends the route's answer, or the app's handler's for an exception it raises (one
    with no handler goes on up, as from the route), counted in `answered`."""
    scope["route"] = route  # what routing would have set (metrics label the route's path)
    request = Request(scope, receive)
    try:
        response = await respond(request)
    except Exception as exc:
        handler = exception_handler(request, exc)
        if handler is None:
            raise
        response = await handler(request, exc)
    answered.inc()
    await response(scope, receive, send)


def _reference(scope: Scope) -> str | None:
    """The booking reference of a `GET /bookings/{booking_id}` the route would accept, with
    no query string; None for any other request."""
    if scope.get("query_string"):
        return None
    path = route_path(scope)
    if not path.startswith(_READ_PREFIX):
        return None
    reference = path[len(_READ_PREFIX) :]
    return reference if _REFERENCE.fullmatch(reference) else None


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
