"""Domain errors and the one JSON error shape: `{"error": {"code", "message", "details"}}`."""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable, Sequence
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import BaseRoute, Route

log = logging.getLogger(__name__)


class AppError(Exception):
    """Base of every domain error; carries its HTTP status and stable machine code."""

    status_code: int = 400
    code: str = "bad_request"
    message: str = "Bad request"

    def __init__(
        self,
        message: str | None = None,
        *,
        code: str | None = None,
        status_code: int | None = None,
        details: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.message = message or type(self).message
        self.code = code or type(self).code
        self.status_code = status_code or type(self).status_code
        self.details = details or {}
        self.headers = headers
        super().__init__(self.message)


class NotFound(AppError):
    status_code = 404
    code = "not_found"
    message = "Not found"


class Conflict(AppError):
    status_code = 409
    code = "conflict"
    message = "Conflict"


class Unprocessable(AppError):
    status_code = 422
    code = "validation_error"
    message = "Invalid input"


class Unauthorized(AppError):
    status_code = 401
    code = "not_authenticated"
    message = "Authentication required"


class Forbidden(AppError):
    status_code = 403
    code = "forbidden"
    message = "You do not have permission to do this"


class TooManyRequests(AppError):
    status_code = 429
    code = "rate_limited"
    message = "Too many requests"


UNREADABLE_BODY_MESSAGE = (
    "The request body could not be read: not valid UTF-8, nested too deeply, or not in the "
    "declared content type"
)


class InvalidBody(AppError):
    """A body that cannot be parsed at all (syntactically wrong JSON is a 422, as FastAPI
    answers it for every route)."""

    status_code = 400
    code = "invalid_body"
    message = UNREADABLE_BODY_MESSAGE


class FeatureNotConfigured(AppError):
    """An endpoint whose feature this server is not configured for (e.g. signed webhooks
    without their secret): a 4xx, since nothing is down; monitoring reads 5xx as an outage."""

    status_code = 404
    code = "feature_not_configured"
    message = "This feature is not configured on this server"


class ErrorBody(BaseModel):
    code: str
    message: str
    details: dict[str, Any] = {}


class ErrorResponse(BaseModel):
    """The error shape, for OpenAPI `responses=`."""

    error: ErrorBody


def error_responses(*errors: int | type[AppError]) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=` entries for the errors a route can return: an `AppError` class
    documents its status and its code (`seat_unavailable`); a bare status its generic code.
    Every code of a status is listed in the description and given as an example."""
    codes: dict[int, dict[str, str]] = {}
    for error in errors:
        if isinstance(error, int):
            status, code, message = error, _HTTP_CODES.get(error, "http_error"), ""
        else:
            status, code, message = error.status_code, error.code, error.message
        codes.setdefault(status, {}).setdefault(code, message)
    return {status: _documented(status, by_code) for status, by_code in sorted(codes.items())}


def _documented(status: int, by_code: dict[str, str]) -> dict[str, Any]:
    listed = ", ".join(f"`{code}`" for code in by_code)
    examples = {
        code: {"summary": code, "value": error_payload(code, message or HTTPStatus(status).phrase)}
        for code, message in by_code.items()
    }
    return {
        "model": ErrorResponse,
        "description": f"{HTTPStatus(status).phrase}: {listed}",
        "content": {"application/json": {"examples": examples}},
    }


def error_payload(code: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details or {}}}


_HTTP_CODES = {
    400: "invalid_body",
    401: "not_authenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "rate_limited",
}


# Decides, for an error found before the route's dependencies ran (a body that could not be
# read), whether the route's own 401 comes first: a missing or bad token is a 401 whatever the
# body. Given by the app (platform/security/auth.py), which errors.py cannot import.
AuthRejection = Callable[[Request], "AppError | None"]


class ServiceUnavailable(AppError):
    """A server the request needed did not answer (`dependency_unavailable`)."""

    status_code = 503
    code = "service_unavailable"
    message = "A service FlightDeck depends on is not answering; try again shortly"


# Every 503 says when to try again: `Retry-After`, and `details.retry_after_seconds`.
UNAVAILABLE_RETRY_SECONDS = 5


def _json_error(error: AppError) -> JSONResponse:
    details, headers = error.details, error.headers
    if error.status_code == 503:
        details = {"retry_after_seconds": UNAVAILABLE_RETRY_SECONDS, **details}
        headers = {"Retry-After": str(UNAVAILABLE_RETRY_SECONDS), **(headers or {})}
    return JSONResponse(
        error_payload(error.code, error.message, details),
        status_code=error.status_code,
        headers=headers,
    )


async def _app_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AppError)
    return _json_error(exc)


def _validation_response(exc: RequestValidationError) -> JSONResponse:
    fields = [
        {
            "field": ".".join(str(part) for part in err.get("loc", ())),
            "message": err.get("msg", ""),
            "type": err.get("type", ""),
        }
        for err in exc.errors()
    ]
    first = fields[0] if fields else {"field": "", "message": "Invalid input"}
    message = f"{first['field']}: {first['message']}" if first["field"] else first["message"]
    return JSONResponse(
        error_payload("validation_error", message, {"errors": fields}), status_code=422
    )


def _http_response(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    code = _HTTP_CODES.get(exc.status_code, "http_error")
    message = str(exc.detail)
    headers = dict(exc.headers or {})
    if exc.status_code == 400:
        message = UNREADABLE_BODY_MESSAGE  # FastAPI's only 400: a body it could not parse
    if exc.status_code == 405:
        headers["Allow"] = ", ".join(allowed_methods(request))
    return JSONResponse(error_payload(code, message), status_code=exc.status_code, headers=headers)


def allowed_methods(request: Request) -> list[str]:
    """Every method some route serves at this path: Starlette's 405 names only those of the
    route that matched first, and FastAPI makes one route per method."""
    matched = request.scope.get("route")
    path = getattr(matched, "path", None)
    return sorted(_methods_by_path(request.app).get(path, set())) if path else []


def _methods_by_path(app: FastAPI) -> dict[str, set[str]]:
    index: dict[str, set[str]] | None = getattr(app.state, "methods_by_path", None)
    if index is None:
        index = {}
        _index_routes(app.routes, index)
        app.state.methods_by_path = index
    return index


def _index_routes(routes: Sequence[BaseRoute], index: dict[str, set[str]]) -> None:
    for route in routes:
        included = getattr(route, "original_router", None)  # an included APIRouter
        if included is not None:
            _index_routes(included.routes, index)
        elif isinstance(route, Route):
            index.setdefault(route.path, set()).update(route.methods or ())


# PostgreSQL's SQLSTATE classes for a server that cannot serve now, whatever the statement:
# 08 connection exception, 53 insufficient resources (too many connections, disk full), 57P
# operator intervention (shutting down, starting up, the session ended by an administrator).
_UNAVAILABLE_SQLSTATES = ("08", "53", "57P")
# SQLite's primary result codes for the same: BUSY and LOCKED (still locked past the busy
# timeout), NOMEM, IOERR, FULL, CANTOPEN, PROTOCOL.
_UNAVAILABLE_SQLITE_CODES = frozenset({5, 6, 7, 10, 13, 14, 15})


def dependency_unavailable(error: BaseException) -> bool:
    """Whether `error`, or one it was raised from, says a server the request needed did not
    answer (the database, or anything reached over the network): the connection refused,
    dropped or timed out, no pooled connection free in time, the server shutting down or out
    of connections, an SQLite file still locked or unreadable. Not a statement's own error (a
    syntax error, a constraint): that is a bug or the caller's, whatever the driver."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if _unavailable(current):
            return True
        current = current.__cause__
    return False


def _unavailable(error: BaseException) -> bool:
    if isinstance(error, DBAPIError):
        return error.connection_invalidated or (error.orig is not None and _unavailable(error.orig))
    if isinstance(error, PoolTimeout | ConnectionError | TimeoutError | socket.gaierror):
        return True
    sqlstate = getattr(error, "sqlstate", None)  # asyncpg's, and SQLAlchemy's adapter of it
    if isinstance(sqlstate, str) and sqlstate.startswith(_UNAVAILABLE_SQLSTATES):
        return True
    code = getattr(error, "sqlite_errorcode", None)  # the extended code: its low byte is primary
    return isinstance(code, int) and (code & 0xFF) in _UNAVAILABLE_SQLITE_CODES


def unexpected_error_response(
    exc: BaseException, method: str | None, path: str | None
) -> JSONResponse:
    """The answer to an exception no handler took: `ServiceUnavailable` (503) when a server it
    needed did not answer (`dependency_unavailable`), else the 500 of a bug. Either is logged
    with its traceback."""
    if dependency_unavailable(exc):
        log.warning("a dependency did not answer on %s %s", method, path, exc_info=exc)
        return _json_error(ServiceUnavailable())
    log.error("unhandled error on %s %s", method, path, exc_info=exc)
    return JSONResponse(error_payload("internal_error", "Internal server error"), status_code=500)


async def _unhandled(request: Request, exc: Exception) -> JSONResponse:
    return unexpected_error_response(exc, request.method, request.url.path)


def install_error_handlers(app: FastAPI, *, auth_rejection: AuthRejection | None = None) -> None:
    """Every error in the one shape. `auth_rejection` puts a protected route's 401 before the
    400/413/422 of a request refused before its user was checked (FastAPI parses the body
    before dependencies run)."""

    def auth_first(request: Request) -> JSONResponse | None:
        rejection = auth_rejection(request) if auth_rejection is not None else None
        return _json_error(rejection) if rejection is not None else None

    async def validation_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        # A route whose dependencies check the token answers any other 422 after them; one
        # that validates before it signs its user in does not: both answer the 401 first.
        if (rejected := auth_first(request)) is not None:
            return rejected
        return _validation_response(exc)

    async def http_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        unparsed = exc.status_code in (400, 413)
        if unparsed and (rejected := auth_first(request)) is not None:
            return rejected
        return _http_response(request, exc)

    async def app_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, AppError)
        unparsed = isinstance(exc, InvalidBody)
        if unparsed and (rejected := auth_first(request)) is not None:
            return rejected
        return _json_error(exc)

    app.add_exception_handler(AppError, app_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(Exception, _unhandled)
