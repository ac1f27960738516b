"""Fields the airline's forms share (flights and schedules): flight number, cabins with seats
and fares, local times at an airport."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import flet as ft

from flightdeck.ui.dialogs import InvalidInput
from flightdeck.ui.formatting import local_to_instant, to_minor_units
from flightdeck.ui.screens.base import Screen
from flightdeck.ui.widgets import Form, responsive, text_field

# (form field, identifier suffix, label, initial value)
FieldSpec = tuple[str, str, str, str]
CABIN_FIELDS: Sequence[FieldSpec] = (
    ("economy_seats", "economy-seats", "Economy seats", "150"),
    ("economy_fare", "economy-fare", "Economy fare", "450.00"),
    ("business_seats", "business-seats", "Business seats", "0"),
    ("business_fare", "business-fare", "Business fare", "0"),
    ("currency", "currency", "Currency", "USD"),
)


def plain_fields(prefix: str, specs: Sequence[FieldSpec]) -> dict[str, ft.TextField]:
    return {
        name: text_field(suffix, label_text, prefix=prefix, value=value)
        for name, suffix, label_text, value in specs
    }


def flight_number_field(prefix: str) -> ft.TextField:
    capitals = ft.TextCapitalization.CHARACTERS
    return text_field("number", "Flight number", prefix=prefix, capitalization=capitals)


def cabin_fields(prefix: str) -> dict[str, ft.TextField]:
    return plain_fields(prefix, CABIN_FIELDS)


def cabin_rows(form: Form) -> list[ft.Control]:
    c = form.control
    return [
        responsive(c("economy_seats"), c("economy_fare")),
        responsive(c("business_seats"), c("business_fare")),
        c("currency"),
    ]


def cabins_body(form: Form) -> dict[str, Any]:
    """`cabins` of a flight or schedule from the form (a cabin with 0 seats is left out)."""
    currency = form.value("currency").upper() or "USD"
    cabins: dict[str, Any] = {}
    for cabin in ("economy", "business"):
        seats_text = form.value(f"{cabin}_seats") or "0"
        if not seats_text.isdigit():
            raise InvalidInput(f"{cabin}_seats", "A whole number of seats")
        if int(seats_text) == 0:
            continue
        try:
            fare = to_minor_units(form.value(f"{cabin}_fare"), currency)
        except ValueError as exc:
            raise InvalidInput(f"{cabin}_fare", str(exc)) from exc
        cabins[cabin] = {"seats": int(seats_text), "fare": {"amount": fare, "currency": currency}}
    return cabins


async def zone_of(screen: Screen, code: str) -> str:
    """The airport's IANA time zone ("" if the server does not know the code)."""
    for airport in await screen.api.airports(code):
        if airport["iata"] == code:
            return str(airport["timezone"])
    return ""


def instant_or_invalid(field: str, text: str, zone: str) -> str:
    try:
        return local_to_instant(text, zone)
    except ValueError as exc:
        raise InvalidInput(field, f"Use local time like 2026-12-24 08:30 ({exc})") from exc
