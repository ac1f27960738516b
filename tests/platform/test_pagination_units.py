"""Cursor encoding round-trips; a cursor this server did not issue is a 422."""

from __future__ import annotations

import pytest

from flightdeck.platform.errors import Unprocessable
from flightdeck.platform.pagination import decode_cursor, encode_cursor


def test_cursor_round_trips_its_values() -> None:
    values = ["2026-12-01T08:30:00+00:00", "3f1c"]
    assert decode_cursor(encode_cursor(values)) == values


@pytest.mark.parametrize("cursor", ["%%%", "bm90LWpzb24", "eyJhIjoxfQ"])
def test_foreign_cursor_is_refused(cursor: str) -> None:
    with pytest.raises(Unprocessable) as info:
        decode_cursor(cursor)
    assert info.value.code == "invalid_cursor"
