"""What a domain's edge needs: answering one busy route before routing.

An edge is a domain module's middleware (`search/edge.py`, `bookings/edge.py`): inside the
platform's middleware (request context, metrics, body caps, rate limits and their headers all
apply) but before FastAPI matches a route, solves its parameters and runs its exception
layers. It answers the requests it fully understands and passes everything else on to the
route, which answers exactly as it would alone. These helpers keep the two answers the same:
the path as routing matches it, a body read once and replayed to the route when the edge
passes, and an exception answered by the app's own handler for it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Message, Receive, Scope

ExceptionHandler = Callable[[Request, Exception], Awaitable[Response]]


def route_path(scope: Scope) -> str:
    """The path routing matches: without the server's `root_path` (as Starlette's router)."""
    path: str = scope["path"]
    root_path: str = scope.get("root_path", "")
    if root_path and path.startswith(root_path + "/"):
        return path[len(root_path) :]
    return path


async def read_body(receive: Receive) -> tuple[list[Message], bytes | None]:
    """Every message of the request's body, and the body (None when the client went away
    before it was complete: the route then sees the same messages)."""
    messages: list[Message] = []
    chunks: list[bytes] = []
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            return messages, None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return messages, b"".join(chunks)


def replaying(messages: list[Message], receive: Receive) -> Receive:
    """`receive`, after the messages an edge already read from it, in their order."""
    pending = list(messages)

    async def replay() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return replay


def exception_handler(request: Request, exc: Exception) -> ExceptionHandler | None:
    """The app's handler for `exc` that its exception layer (below an edge) would have run:
    the first registered for a class of its MRO. Not the catch-all `Exception` handler, which
    Starlette runs outermost: such an error is raised on, as from the route."""
    handlers = request.app.exception_handlers
    for cls in type(exc).__mro__:
        if cls is Exception:
            return None
        handler = handlers.get(cls)
        if handler is not None:
            return handler  # type: ignore[no-any-return]
    return None
