"""The aircraft configuration/version of an SSIM leg (bytes 173-192, or data element 108
when longer), read into FlightDeck's cabins and written back.

Forms read (SSIM chapter 2, "Aircraft Configuration/Version"):

* seats per compartment: a compartment code and its seat count, repeated: ``J42W24Y302``,
  ``F8C42M180``, ``C030Y150`` (leading zeros), ``Y100Y20`` (the same code twice adds up);
* the same followed by the aircraft version, ``VV`` and an airline's version code:
  ``Y118VV118``, ``J14W34Y316VV364``;
* the version alone, ``VV738H``: readable, but it has no seat counts, so the default cabins
  apply, with a warning on the line;
* blank: the file gives booking designators only; the default cabins apply, silently.

Anything else (``J1234``, ``12Y``, ``J12/Y100``) cannot be read: the default cabins apply and
the line gets a warning naming the field. A compartment with 0 seats is left out.

Compartment codes map to cabins: F, A, P, R first; J, C, D, I, Z business; W, E premium
economy; Y, M and any other letter economy. The export writes F, J, W and Y.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from flightdeck.flights.schedules.ssim.records import CONFIGURATION

CABIN_OF_COMPARTMENT: dict[str, str] = {
    **dict.fromkeys("FAPR", "first"),
    **dict.fromkeys("JCDIZ", "business"),
    **dict.fromkeys("WE", "premium_economy"),
}
COMPARTMENT_OF_CABIN = {
    "first": "F",
    "business": "J",
    "premium_economy": "W",
    "economy": "Y",
}
_FORM = re.compile(r"(?P<seats>(?:[A-Z][0-9]{1,3})*)(?:VV(?P<version>[A-Z0-9]*))?")
_COMPARTMENT = re.compile(r"([A-Z])([0-9]{1,3})")


@dataclass(frozen=True)
class Configuration:
    """Seats per cabin read from a configuration/version (empty: none given or unreadable),
    the aircraft version code when given, and a warning when the line should carry one."""

    seats: dict[str, int] = field(default_factory=dict)
    version: str | None = None
    warning: str | None = None


def read_configuration(raw: str, default_cabins: Mapping[str, int]) -> Configuration:
    """The configuration/version as seats per cabin (see the module's forms)."""
    text = raw.strip()
    if not text:
        return Configuration()
    default = ", ".join(f"{cabin} {seats}" for cabin, seats in default_cabins.items()) or "none"
    found = _FORM.fullmatch(text)
    if found is None:
        return Configuration(
            warning=f"{CONFIGURATION.name}: {text!r} cannot be read (compartment codes with "
            f"seat counts, optionally followed by VV and a version); default cabins "
            f"({default}) used"
        )
    seats: dict[str, int] = {}
    for code, count in _COMPARTMENT.findall(found.group("seats")):
        cabin = CABIN_OF_COMPARTMENT.get(code, "economy")
        seats[cabin] = seats.get(cabin, 0) + int(count)
    seats = {cabin: count for cabin, count in seats.items() if count > 0}
    version = found.group("version")
    warning = None
    if not seats:
        warning = (
            f"{CONFIGURATION.name}: {text!r} gives no seat counts; default cabins ({default}) used"
        )
    return Configuration(seats=seats, version=version, warning=warning)


def format_configuration(seats: Mapping[str, int], version: str | None = None) -> str:
    """Seats per cabin as compartment codes and counts, first class first: ``J12Y138``."""
    text = "".join(
        f"{COMPARTMENT_OF_CABIN[cabin]}{seats[cabin]}"
        for cabin in COMPARTMENT_OF_CABIN
        if seats.get(cabin)
    )
    return f"{text}VV{version}" if version else text


def booking_designators(seats: Mapping[str, int]) -> str:
    """The compartments of these cabins, as the booking designator field lists them."""
    return "".join(code for cabin, code in COMPARTMENT_OF_CABIN.items() if seats.get(cabin))
