"""Seat layouts: which seats a flight's cabins have, from its aircraft type. Pure functions.

Each cabin gets ceil(capacity / len(letters)) rows of its aircraft family's seat letters; the
last row has only as many seats (the first letters) as make the cabin's seat count equal its
capacity. Rows are numbered continuously from the front (first, business, premium economy,
economy) and row 13 is skipped, as many airlines do. An unknown or missing aircraft type gets
the narrow-body default.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

# Front to back.
CABIN_ORDER = ("first", "business", "premium_economy", "economy")
SKIPPED_ROWS = frozenset({13})

_NARROW = {"first": "ACDF", "business": "ACDF", "premium_economy": "ABCDEF", "economy": "ABCDEF"}
_REGIONAL = {"first": "AC", "business": "ACD", "premium_economy": "ACDF", "economy": "ACDF"}
# Twin aisle 2-4-2 (A330, A340, 767).
_WIDE_242 = {"first": "AK", "business": "ADGK", "premium_economy": "ACDGHK", "economy": "ACDEFGHK"}
# Twin aisle 3-3-3 economy (787, A350).
_WIDE_333 = {
    "first": "AK",
    "business": "AEFK",
    "premium_economy": "ACDEGHK",
    "economy": "ABCDEFHJK",
}
# Twin aisle 3-4-3 economy (777, 747, A380); no "I", which reads like a 1.
_WIDE_343 = {
    "first": "AK",
    "business": "ACDGHK",
    "premium_economy": "ACDEFGHK",
    "economy": "ABCDEFGHJK",
}
DEFAULT_LETTERS = _NARROW

_FAMILIES: dict[str, tuple[str, ...]] = {
    # IATA aircraft codes and ICAO type designators.
    "regional": ("E70", "E75", "E90", "E95", "E170", "E75L", "E190", "E195", "CR7", "CR9", "CRJ",
                 "CRJ7", "CRJ9", "AT7", "AT76", "DH4", "DH8D"),
    "narrow": ("319", "320", "321", "31N", "32N", "32Q", "737", "738", "739", "73G", "73H", "73J",
               "7M8", "7M9", "752", "753", "A319", "A320", "A321", "A19N", "A20N", "A21N", "B737",
               "B738", "B739", "B37M", "B38M", "B39M", "B752", "B753", "221", "223", "BCS3"),
    "wide_242": ("332", "333", "338", "339", "343", "346", "763", "764", "A332", "A333", "A338",
                 "A339", "A343", "A346", "B763", "B764"),
    "wide_333": ("787", "788", "789", "78X", "359", "351", "B788", "B789", "B78X", "A359", "A35K"),
    "wide_343": ("777", "772", "773", "77L", "77W", "779", "744", "748", "388", "380", "B772",
                 "B773", "B77L", "B77W", "B779", "B744", "B748", "A388"),
}  # fmt: skip
_LETTERS_BY_FAMILY = {
    "regional": _REGIONAL,
    "narrow": _NARROW,
    "wide_242": _WIDE_242,
    "wide_333": _WIDE_333,
    "wide_343": _WIDE_343,
}
_LETTERS_BY_AIRCRAFT = {
    code: _LETTERS_BY_FAMILY[family] for family, codes in _FAMILIES.items() for code in codes
}
_SEAT = re.compile(r"^([1-9]\d{0,2})([A-Z])$")


@dataclass(frozen=True)
class SeatRow:
    number: int
    seats: tuple[str, ...]  # e.g. ("12A", "12B", ...)


@dataclass(frozen=True)
class CabinLayout:
    cabin: str
    letters: str  # of a full row
    rows: tuple[SeatRow, ...]

    @property
    def seats(self) -> list[str]:
        return [seat for row in self.rows for seat in row.seats]


def cabin_letters(aircraft: str | None, cabin: str) -> str:
    """Seat letters of a full row of `cabin` on that aircraft type (default when unknown)."""
    key = re.sub(r"[\s-]", "", aircraft or "").upper()
    letters = _LETTERS_BY_AIRCRAFT.get(key, DEFAULT_LETTERS)
    return letters.get(cabin, DEFAULT_LETTERS["economy"])


def _row_numbers(start: int) -> Iterator[int]:
    number = start
    while True:
        if number not in SKIPPED_ROWS:
            yield number
        number += 1


def seat_map(aircraft: str | None, cabins: Iterable[tuple[str, int]]) -> list[CabinLayout]:
    """The layout of each (cabin, capacity), front to back; each cabin has exactly `capacity`
    seats. Cabins outside CABIN_ORDER go last, by name."""
    ordered = sorted(
        cabins,
        key=lambda c: (CABIN_ORDER.index(c[0]) if c[0] in CABIN_ORDER else len(CABIN_ORDER), c[0]),
    )
    layouts: list[CabinLayout] = []
    numbers = _row_numbers(1)
    for cabin, capacity in ordered:
        letters = cabin_letters(aircraft, cabin)
        rows: list[SeatRow] = []
        for index in range(math.ceil(max(capacity, 0) / len(letters))):
            in_row = min(len(letters), capacity - index * len(letters))
            number = next(numbers)
            rows.append(SeatRow(number, tuple(f"{number}{letter}" for letter in letters[:in_row])))
        layouts.append(CabinLayout(cabin=cabin, letters=letters, rows=tuple(rows)))
    return layouts


def normalise_seat(seat: str) -> str | None:
    """ "12a " -> "12A"; None when it is not a seat designator at all."""
    value = seat.strip().upper()
    return value if _SEAT.match(value) else None


def seat_cabin(layout: list[CabinLayout], seat: str) -> str | None:
    """The cabin the seat belongs to in that seat map, or None when the map has no such seat."""
    value = normalise_seat(seat)
    if value is None:
        return None
    match = _SEAT.match(value)
    assert match is not None
    number = int(match.group(1))
    for cabin in layout:
        if cabin.rows and cabin.rows[0].number <= number <= cabin.rows[-1].number:
            row = next((r for r in cabin.rows if r.number == number), None)
            return cabin.cabin if row is not None and value in row.seats else None
    return None
