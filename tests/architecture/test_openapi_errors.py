"""Each route's OpenAPI responses name the error codes it can return, from the error classes."""

from __future__ import annotations

from typing import Any

from flightdeck.app import create_app
from flightdeck.platform.settings import Settings

ERROR_SHAPE = {"$ref": "#/components/schemas/ErrorResponse"}


def _openapi() -> dict[str, Any]:
    return create_app(Settings(jwt_secret="x" * 40)).openapi()


def test_booking_conflicts_are_documented_by_their_codes() -> None:
    conflict = _openapi()["paths"]["/bookings"]["post"]["responses"]["409"]
    assert "`seat_unavailable`" in conflict["description"]
    assert "`seats_unavailable`" in conflict["description"]
    examples = conflict["content"]["application/json"]["examples"]
    assert examples["seat_unavailable"]["value"]["error"]["code"] == "seat_unavailable"


def test_every_documented_error_status_lists_at_least_one_code() -> None:
    for path, operations in _openapi()["paths"].items():
        for method, operation in operations.items():
            for status, response in operation.get("responses", {}).items():
                body = response.get("content", {}).get("application/json", {})
                # Errors in the one shape; /readyz's 503 carries its checks, not an error.
                if status.startswith(("4", "5")) and body.get("schema") == ERROR_SHAPE:
                    assert body.get("examples"), f"{method.upper()} {path} {status}"
