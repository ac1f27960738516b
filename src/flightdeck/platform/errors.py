"""Domain errors and the one JSON error shape: `{"error": {"code", "message", "details"}}`."""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

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
    400: "bad_request",
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


async def _app_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AppError)
    return JSONResponse(
        error_payload(exc.code, exc.message, exc.details),
        status_code=exc.status_code,
        headers=exc.headers,
    )


async def _validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
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


async def _http_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = _HTTP_CODES.get(exc.status_code, "http_error")
    return JSONResponse(
        error_payload(code, str(exc.detail)),
        status_code=exc.status_code,
        headers=getattr(exc, "headers", None),
    )


async def _unhandled(_: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error", exc_info=exc)
    return JSONResponse(error_payload("internal_error", "Internal server error"), status_code=500)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(AppError, _app_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unhandled)
