"""The words of notifications: titles and messages for flight changes and bookings.

Times are shown in the airport's local offset, as the API shows them (the event payloads
carry them that way already).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

# ISO 4217 currencies without minor units; every other one is shown with two decimals.
_ZERO_DECIMAL_CURRENCIES = frozenset({"JPY", "KRW", "VND", "CLP", "ISK", "UGX", "XAF", "XOF"})


def local_time(value: str | datetime | None) -> str:
    """`2026-12-01T10:05:00-05:00` → `Tue 1 Dec 2026, 10:05 (UTC-05:00)`."""
    if value is None:
        return "an unknown time"
    instant = datetime.fromisoformat(value) if isinstance(value, str) else value
    offset = instant.strftime("%z") or "+0000"
    return f"{instant:%a} {instant.day} {instant:%b %Y, %H:%M} (UTC{offset[:3]}:{offset[3:5]})"


def money_text(value: Mapping[str, Any] | None) -> str | None:
    """`{"amount": 45000, "currency": "USD"}` → `450.00 USD`; None for no or a zero amount."""
    if not value or not value.get("amount"):
        return None
    currency = str(value.get("currency", ""))
    exponent = 0 if currency in _ZERO_DECIMAL_CURRENCIES else 2
    amount = Decimal(int(value["amount"])).scaleb(-exponent)
    return f"{amount:,.{exponent}f} {currency}".strip()


def route(flight: Mapping[str, Any]) -> str:
    """`FD101 JFK → LHR` (without the airports when they are not known)."""
    number = str(flight.get("flight_number") or "Your flight")
    if flight.get("origin") and flight.get("destination"):
        return f"{number} {flight['origin']} → {flight['destination']}"
    return number


def _gate(flight: Mapping[str, Any]) -> str:
    gate, terminal = flight.get("gate"), flight.get("terminal")
    if gate and terminal:
        return f" Gate {gate}, terminal {terminal}."
    return f" Gate {gate}." if gate else ""


def flight_delayed(flight: Mapping[str, Any]) -> tuple[str, str]:
    delay = flight.get("delay_minutes") or 0
    by = f" by {delay} minutes" if delay else ""
    return (
        f"{flight.get('flight_number')} is delayed",
        f"{route(flight)}, scheduled {local_time(flight.get('scheduled_departure'))}, is "
        f"delayed{by}. New departure: {local_time(flight.get('estimated_departure'))}."
        + _gate(flight),
    )


def flight_cancelled(flight: Mapping[str, Any], *, pnr: str | None = None) -> tuple[str, str]:
    message = (
        f"{route(flight)}, scheduled {local_time(flight.get('scheduled_departure'))}, is cancelled."
    )
    if pnr:
        message += f" Your booking {pnr} is cancelled."
    return f"{flight.get('flight_number')} is cancelled", message


def flight_diverted(flight: Mapping[str, Any]) -> tuple[str, str]:
    airport = flight.get("diverted_to") or "another airport"
    message = f"{route(flight)} is diverted to {airport}."
    if flight.get("estimated_arrival"):
        message += f" Estimated arrival: {local_time(flight['estimated_arrival'])}."
    return f"{flight.get('flight_number')} is diverted to {airport}", message


def flight_gate_changed(flight: Mapping[str, Any], old_gate: str | None) -> tuple[str, str]:
    departure = flight.get("estimated_departure") or flight.get("scheduled_departure")
    was = f" (was {old_gate})" if old_gate else ""
    terminal = f", terminal {flight['terminal']}" if flight.get("terminal") else ""
    return (
        f"{flight.get('flight_number')}: gate changed to {flight.get('gate')}",
        f"{route(flight)}, departing {local_time(departure)}, now leaves from gate "
        f"{flight.get('gate')}{terminal}{was}.",
    )


def flight_schedule_changed(flight: Mapping[str, Any], difference: str) -> tuple[str, str]:
    """A booked flight kept as it is while its schedule changed around it."""
    now = {"times": "at other times", "aircraft": "with another aircraft"}.get(difference)
    change = (
        f"the airline's schedule now flies it {now}"
        if now
        else "the airline has taken it out of its schedule"
    )
    return (
        f"{flight.get('flight_number')}: schedule change",
        f"{route(flight)}, scheduled {local_time(flight.get('scheduled_departure'))}: {change}. "
        "Your booking stays on this flight as it is for now; you will be told if it moves or "
        "is cancelled.",
    )


def itinerary(flights: Sequence[Mapping[str, Any]]) -> str:
    """`FD101 JFK → LHR on Tue 1 Dec 2026, 08:30 (UTC-05:00); FD202 …`."""
    return "; ".join(f"{route(f)} on {local_time(f.get('scheduled_departure'))}" for f in flights)


def refund_sentence(refund: Mapping[str, Any] | None) -> str:
    amount = money_text(refund)
    return f" A refund of {amount} is on its way." if amount else ""


def booking_confirmed(
    pnr: str, flights: Sequence[Mapping[str, Any]], total: Any
) -> tuple[str, str]:
    paid = money_text(total)
    return (
        f"Booking {pnr} is confirmed",
        f"Your booking {pnr} is confirmed: {itinerary(flights)}."
        + (f" Total paid: {paid}." if paid else ""),
    )


def booking_cancelled(
    pnr: str, flights: Sequence[Mapping[str, Any]], refund: Any
) -> tuple[str, str]:
    return (
        f"Booking {pnr} is cancelled",
        f"Your booking {pnr} ({itinerary(flights)}) is cancelled." + refund_sentence(refund),
    )


def booking_expired(pnr: str, flights: Sequence[Mapping[str, Any]]) -> tuple[str, str]:
    return (
        f"Booking {pnr} has expired",
        f"The seats held for booking {pnr} ({itinerary(flights)}) were released because it "
        "was not paid in time. Search again to book.",
    )


def payment_refunded(pnr: str | None, amount: Any) -> tuple[str, str]:
    money = money_text(amount) or "your payment"
    booking = f" for booking {pnr}" if pnr else ""
    return (
        f"Refund{booking} on its way",
        f"A refund of {money}{booking} is on its way to your original payment method.",
    )
