"""Keyset (cursor) pagination: `?limit=&cursor=` → `{items, next_cursor}`."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Query
from pydantic import BaseModel

from flightdeck.platform.errors import Unprocessable

T = TypeVar("T")

MAX_LIMIT = 200


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = None


class PageParams(BaseModel):
    limit: int
    cursor: list[Any] | None


def encode_cursor(values: list[Any]) -> str:
    raw = json.dumps(values, separators=(",", ":"), default=str).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> list[Any]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, UnicodeDecodeError) as exc:
        raise Unprocessable(
            "cursor: not a cursor this server issued", code="invalid_cursor"
        ) from exc
    if not isinstance(values, list):
        raise Unprocessable("cursor: not a cursor this server issued", code="invalid_cursor")
    return values


def page_params(
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 50,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> PageParams:
    return PageParams(limit=limit, cursor=decode_cursor(cursor) if cursor else None)


def invalid_cursor() -> Unprocessable:
    return Unprocessable("cursor: not a cursor this server issued", code="invalid_cursor")


def decode_instant_cursor(values: list[Any] | None) -> tuple[datetime, str] | None:
    """A cursor of `[ISO instant with offset, id]` (what `instant_cursor` encodes), or None;
    422 `invalid_cursor` for anything else."""
    if values is None:
        return None
    if len(values) != 2 or not all(isinstance(value, str) for value in values):
        raise invalid_cursor()
    try:
        at = datetime.fromisoformat(values[0])
    except ValueError as exc:
        raise invalid_cursor() from exc
    if at.tzinfo is None:
        raise invalid_cursor()
    return at.astimezone(UTC), values[1]


def instant_cursor(at: datetime, item_id: str) -> str:
    return encode_cursor([at.isoformat(), item_id])
