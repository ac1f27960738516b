"""Lines printed at the end of a test run (where the screenshots are, ...), from any process:
under pytest-xdist each worker hands its lines to the controller, which prints them all
(tests/conftest.py holds the hooks; a worker's own terminal summary is never shown)."""

from __future__ import annotations

LINES: list[str] = []


def note(line: str) -> None:
    LINES.append(line)
