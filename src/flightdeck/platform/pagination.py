"""Keyset (cursor) pagination: `?limit=&cursor=` → `{items, next_cursor}`."""

from __future__ import annotations

import base64
import binascii
import json
from datetime import UTC, datetime
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Query
from pydantic import BaseModel

from flightdeck.platform.bounds import EARLIEST_DATE, LATEST_DATE
from flightdeck.platform.errors import Unprocessable
from flightdeck.platform.text import unsafe_character

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


def invalid_cursor() -> Unprocessable:
    return Unprocessable("cursor: not a cursor this server issued", code="invalid_cursor")


def decode_cursor(cursor: str) -> list[Any]:
    """The values of a cursor: a flat list of strings and numbers, strings free of control
    characters (a forged cursor must not carry a NUL to the database)."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, UnicodeDecodeError, RecursionError, binascii.Error) as exc:
        raise invalid_cursor() from exc
    if not isinstance(values, list) or not all(_plain(value) for value in values):
        raise invalid_cursor()
    return values


def _plain(value: Any) -> bool:
    if isinstance(value, str):
        return unsafe_character(value) is None
    return value is None or (isinstance(value, int | float) and abs(value) < 2**53)


def cursor_instant(value: Any) -> datetime:
    """An aware instant written into a cursor by `encode_cursor`, in UTC; 422 otherwise."""
    try:
        instant = datetime.fromisoformat(value)
    except (TypeError, ValueError) as exc:
        raise invalid_cursor() from exc
    if instant.tzinfo is None or not EARLIEST_DATE.year <= instant.year <= LATEST_DATE.year:
        raise invalid_cursor()
    return instant.astimezone(UTC)


async def page_params(
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 50,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> PageParams:
    return PageParams(limit=limit, cursor=decode_cursor(cursor) if cursor else None)


def decode_instant_cursor(values: list[Any] | None) -> tuple[datetime, str] | None:
    """A cursor of `[ISO instant with offset, id]` (what `instant_cursor` encodes), or None;
    422 `invalid_cursor` for anything else."""
    if values is None:
        return None
    if len(values) != 2 or not all(isinstance(value, str) for value in values):
        raise invalid_cursor()
    return cursor_instant(values[0]), values[1]


def instant_cursor(at: datetime, item_id: str) -> str:
    return encode_cursor([at.isoformat(), item_id])
