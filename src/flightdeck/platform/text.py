"""Free text people type (names, titles, messages, remarks) and resource ids, made safe at the
edge.

- Refused (422): control characters (NUL and the rest of Unicode category Cc; line breaks and
  tabs only in multi-line texts), lone surrogates (they cannot be stored as UTF-8), and the
  bidirectional embedding, override and isolate controls (U+202A-U+202E, U+2066-U+2069)
  that make a text display differently from what it says ("Trojan Source").
- Stripped: the invisible characters with no linguistic role, zero-width space (U+200B), word
  joiner (U+2060) and the byte-order mark (U+FEFF), which make two names look alike. Zero-width
  (non-)joiners (U+200C, U+200D) stay: Persian, Indic scripts and emoji sequences need them.
- Normalised to NFC, so the same name typed on two keyboards is the same string.
"""

from __future__ import annotations

import unicodedata
from typing import Annotated

from fastapi import Path
from pydantic import AfterValidator

BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u2060\ufeff"))
_LINE_BREAKS = frozenset("\n\r\t")


def unsafe_character(value: str, *, multiline: bool = False) -> str | None:
    """The first character `value` must not contain, described, or None."""
    for char in value:
        if char in BIDI_CONTROLS:
            return f"a bidirectional control character (U+{ord(char):04X})"
        category = unicodedata.category(char)
        if category == "Cc" and not (multiline and char in _LINE_BREAKS):
            return f"a control character (U+{ord(char):04X})"
        if category == "Cs":
            return "an unpaired surrogate"
    return None


def clean_text(value: str, *, multiline: bool = False) -> str:
    """`value` normalised and stripped of invisible characters; ValueError on unsafe ones."""
    problem = unsafe_character(value, multiline=multiline)
    if problem is not None:
        raise ValueError(f"must not contain {problem}")
    return unicodedata.normalize("NFC", value.translate(_INVISIBLE)).strip()


def _single_line(value: str) -> str:
    cleaned = clean_text(value)
    if not cleaned:
        raise ValueError("must not be blank")
    return cleaned


def _multi_line(value: str) -> str:
    cleaned = clean_text(value, multiline=True)
    if not cleaned:
        raise ValueError("must not be blank")
    return cleaned


# Length limits stay with each field (`Field(max_length=...)`), checked before cleaning.
SingleLineText = Annotated[str, AfterValidator(_single_line)]
MultiLineText = Annotated[str, AfterValidator(_multi_line)]

# Ids in paths: UUIDs, or a booking's PNR (letters, digits, hyphens; a longer clean string is
# simply not found). Anything else cannot name a resource, so it is a 422 before any query
# runs (a NUL would otherwise reach PostgreSQL as an error).
RESOURCE_ID_PATTERN = r"^[A-Za-z0-9-]{1,64}$"
ResourceId = Annotated[
    str, Path(pattern=RESOURCE_ID_PATTERN, examples=["0b7d5c2e-8f4a-4e1b-9a53-2f6d1c9e7a10"])
]
