"""Who is making the current request, and from where: read by the audit log.

`RequestContextMiddleware` starts a fresh `RequestContext` for every HTTP request and
WebSocket (with the client's address); the auth dependency fills in the signed-in actor once it
has checked the token (`set_actor`). Code deeper down (services writing the audit log) reads it
with `current_context()`, so no service has to pass the actor and the address around.

Outside a request (background workers, the CLI) there is no context unless the caller opens
one with `acting_as(...)`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Receive, Scope, Send

from flightdeck.platform.client_address import UNKNOWN, client_address


@dataclass
class RequestContext:
    """Mutable on purpose: the middleware creates it, the auth dependency (which may run in
    another task of the same request) fills in the actor on the same object."""

    client_ip: str | None = None
    actor_id: str | None = None
    actor_role: str | None = None


_current: ContextVar[RequestContext | None] = ContextVar("flightdeck_request", default=None)


def current_context() -> RequestContext | None:
    """The context of the request being served, or None outside one."""
    return _current.get()


def client_ip(connection: HTTPConnection) -> str | None:
    """The address the request came from: the peer's, or a trusted proxy's `X-Forwarded-For`
    (`platform/client_address.py`, the same address the rate limits count)."""
    address = client_address(connection)
    return None if address == UNKNOWN else address


def set_actor(actor_id: str, role: str) -> None:
    """Records the signed-in user on the current request's context (no-op outside one)."""
    context = _current.get()
    if context is not None:
        context.actor_id, context.actor_role = actor_id, role


@contextmanager
def acting_as(
    actor_id: str | None, role: str | None, client_ip: str | None = None
) -> Iterator[RequestContext]:
    """A context for work done outside an HTTP request on someone's behalf (CLI, tests)."""
    token = _current.set(RequestContext(client_ip=client_ip, actor_id=actor_id, actor_role=role))
    try:
        context = _current.get()
        assert context is not None
        yield context
    finally:
        _current.reset(token)


class RequestContextMiddleware:
    """Pure ASGI middleware: a new `RequestContext` per request, so nothing of one request
    (its actor) can leak into the next one served by the same task or connection."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        context = RequestContext(client_ip=client_ip(HTTPConnection(scope)))
        token = _current.set(context)
        try:
            await self.app(scope, receive, send)
        finally:
            _current.reset(token)
