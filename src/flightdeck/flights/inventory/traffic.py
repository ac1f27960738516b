"""Traffic restrictions (SSIM Appendix G): which journeys may use a segment of a flight.

A leg carries the codes its SSIM record (or SSM message) filed: position 1 for the leg on its
own, position 2 for the leg and the next one of the same flight, and so on. A booking's
flights form segments: consecutive legs of one flight (same number and flight date) are one
segment, flown through; each other flight is a segment of its own. The code of a segment is
the one at its length on its first leg.

FlightDeck sells one-way journeys, every connection "online" (its own) and none with a
stopover, so the codes come down to three rules:

* never sold: A (no local traffic), H (not to be displayed), I (technical landing),
  M and T (stopover traffic only);
* sold only with a connection, never on its own: D, E, G, K, N, O, Q, V, W, X, Y;
* sold only on its own, never with a connection: B (local traffic only).

C, F and Z (for passengers: no restriction unless DEI 170 said otherwise, already applied
on import) and blank sell freely. The international/domestic qualifiers of C, D, N, O, Q and
W are not checked.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Protocol

from flightdeck.flights.errors import TrafficRestricted

NEVER_SOLD = frozenset("AHIMT")
CONNECTION_ONLY = frozenset("DEGKNOQVWXY")
ALONE_ONLY = frozenset("B")
MEANING = {
    "A": "no local traffic",
    "B": "local traffic only",
    "D": "connecting or stopover traffic only",
    "E": "connecting or stopover traffic only",
    "G": "connecting traffic only",
    "H": "not to be displayed",
    "I": "technical landing",
    "K": "connecting traffic only",
    "M": "stopover traffic only",
    "N": "connecting traffic only",
    "O": "connecting traffic only",
    "Q": "connecting or stopover traffic only",
    "T": "stopover traffic only",
    "V": "connecting or stopover traffic only",
    "W": "connecting or stopover traffic only",
    "X": "connecting or stopover traffic only",
    "Y": "connecting traffic only",
}


class Leg(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def flight_number(self) -> str: ...
    @property
    def flight_date(self) -> date | None: ...
    @property
    def leg_sequence(self) -> int: ...
    @property
    def origin(self) -> str: ...
    @property
    def destination(self) -> str: ...
    @property
    def traffic_restrictions(self) -> str | None: ...


@dataclass(frozen=True)
class Segment:
    """Consecutive legs of one flight flown through (or one flight)."""

    legs: tuple[Leg, ...]

    @property
    def restriction(self) -> str:
        codes = self.legs[0].traffic_restrictions or ""
        position = len(self.legs)
        return codes[position - 1] if len(codes) >= position else " "

    def describe(self) -> str:
        return f"{self.legs[0].flight_number} {self.legs[0].origin}-{self.legs[-1].destination}"


def segments(flights: Sequence[Leg]) -> list[Segment]:
    """The journey's flights (in travel order) as segments."""
    runs: list[list[Leg]] = []
    for flight in flights:
        previous = runs[-1][-1] if runs else None
        if (
            previous is not None
            and (flight.flight_number, flight.flight_date)
            == (previous.flight_number, previous.flight_date)
            and flight.leg_sequence == previous.leg_sequence + 1
        ):
            runs[-1].append(flight)
        else:
            runs.append([flight])
    return [Segment(tuple(run)) for run in runs]


def restriction_problem(segment: Segment, journey_segments: int) -> str | None:
    """Why the segment may not be sold in a journey of that many segments (None: it may)."""
    code = segment.restriction
    meaning = MEANING.get(code, "")
    if code in NEVER_SOLD:
        return f"{segment.describe()} is not sold (traffic restriction {code}: {meaning})"
    if code in CONNECTION_ONLY and journey_segments == 1:
        return (
            f"{segment.describe()} is only sold with a connection (traffic restriction "
            f"{code}: {meaning})"
        )
    if code in ALONE_ONLY and journey_segments > 1:
        return (
            f"{segment.describe()} is not sold with a connection (traffic restriction "
            f"{code}: {meaning})"
        )
    return None


def check_traffic_restrictions(flights: Sequence[Leg]) -> None:
    """422 `traffic_restricted` when the journey uses a segment its restrictions forbid."""
    journey = segments(flights)
    for segment in journey:
        problem = restriction_problem(segment, len(journey))
        if problem is not None:
            raise TrafficRestricted(
                problem,
                details={
                    "flight_ids": [leg.id for leg in segment.legs],
                    "traffic_restriction": segment.restriction,
                },
            )
