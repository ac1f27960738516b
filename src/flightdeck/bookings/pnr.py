"""Passenger name records: six characters a person can read out without ambiguity."""

from __future__ import annotations

import re
import secrets

# No 0/O, 1/I/L: they are misread on boarding passes and over the phone.
PNR_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
PNR_LENGTH = 6
_PNR_PATTERN = re.compile(rf"^[{PNR_ALPHABET}]{{{PNR_LENGTH}}}$")


_PNR_SPACE = len(PNR_ALPHABET) ** PNR_LENGTH


def generate_pnr() -> str:
    """A random PNR (31^6 ≈ 887 million); uniqueness is the store's unique index. One draw
    from the system's random source, written in the alphabet's digits (a draw per letter
    was six)."""
    number = secrets.randbelow(_PNR_SPACE)
    letters = []
    for _ in range(PNR_LENGTH):
        number, digit = divmod(number, len(PNR_ALPHABET))
        letters.append(PNR_ALPHABET[digit])
    return "".join(letters)


def normalise_pnr(value: str) -> str | None:
    """`value` upper-cased if it is shaped like a PNR, else None (PNR lookups ignore case)."""
    candidate = value.strip().upper()
    return candidate if _PNR_PATTERN.match(candidate) else None
