"""The OpenAPI document says what the server really answers, also for the errors no route
declares itself: every operation that takes a body may answer 400 `invalid_body` (a body that
cannot be read) and 413 `payload_too_large` (platform/middleware.py); every 422 is in the one
error shape (FastAPI's default `HTTPValidationError` is not what the handlers send)."""

from __future__ import annotations

from collections.abc import Sequence
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI

from flightdeck.platform.errors import UNREADABLE_BODY_MESSAGE, error_payload

ERROR_SCHEMA_REF = "#/components/schemas/ErrorResponse"
_FASTAPI_VALIDATION_SCHEMAS = ("HTTPValidationError", "ValidationError")
_HTTP_METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}

BODY_ERRORS = (
    (400, "invalid_body", UNREADABLE_BODY_MESSAGE),
    (413, "payload_too_large", "The request body is larger than the server accepts"),
)
VALIDATION_ERROR = (422, "validation_error", "Invalid input")

SharedError = tuple[int, str, str]  # status, code, message


def document_shared_errors(app: FastAPI, every_operation: Sequence[SharedError] = ()) -> None:
    """Replaces `app.openapi` with one that adds the shared errors to the generated document;
    `every_operation` adds more that any route may answer (e.g. a rate limit's 429)."""

    generate = app.openapi  # FastAPI's own: builds and caches `app.openapi_schema`

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            add_shared_errors(generate(), every_operation)
        assert app.openapi_schema is not None
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def add_shared_errors(schema: dict[str, Any], every_operation: Sequence[SharedError] = ()) -> None:
    for operations in schema.get("paths", {}).values():
        for method, operation in operations.items():
            if method not in _HTTP_METHODS:
                continue
            responses = operation.setdefault("responses", {})
            if _is_fastapi_validation_error(responses.get("422")):
                del responses["422"]
                _add_code(responses, *VALIDATION_ERROR)
            shared = [*every_operation, *(BODY_ERRORS if "requestBody" in operation else ())]
            for status, code, message in shared:
                _add_code(responses, status, code, message)
    components = schema.get("components", {}).get("schemas", {})
    for name in _FASTAPI_VALIDATION_SCHEMAS:
        components.pop(name, None)


def _is_fastapi_validation_error(response: dict[str, Any] | None) -> bool:
    if response is None:
        return False
    ref = response.get("content", {}).get("application/json", {}).get("schema", {}).get("$ref")
    return isinstance(ref, str) and ref.endswith("/HTTPValidationError")


def _add_code(responses: dict[str, Any], status: int, code: str, message: str) -> None:
    """Documents `code` under `status` (in the error shape), beside the codes already there."""
    entry = responses.setdefault(
        str(status),
        {
            "description": f"{HTTPStatus(status).phrase}:",
            "content": {"application/json": {"schema": {"$ref": ERROR_SCHEMA_REF}}},
        },
    )
    content = entry.setdefault("content", {}).setdefault("application/json", {})
    content.setdefault("schema", {"$ref": ERROR_SCHEMA_REF})
    examples = content.setdefault("examples", {})
    if code in examples:
        return
    examples[code] = {"summary": code, "value": error_payload(code, message)}
    separator = ", " if entry["description"].endswith("`") else " "
    entry["description"] += f"{separator}`{code}`"
