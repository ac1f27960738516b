"""How the app writes money, instants and durations (presentation only)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

# The app's font (Roboto) has no arrows; an en dash joins airports and times instead.
TO = "\u2013"
ZERO_DECIMAL_CURRENCIES = {"JPY", "KRW", "VND", "CLP", "ISK", "HUF", "TWD", "UGX", "XAF", "XOF"}
SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥"}


def minor_digits(currency: str) -> int:
    return 0 if currency.upper() in ZERO_DECIMAL_CURRENCIES else 2


def money(value: Mapping[str, Any] | None) -> str:
    """`{"amount": 45000, "currency": "USD"}` → `$450.00`; None → `—`."""
    if not value:
        return "—"
    currency = str(value.get("currency", "")).upper()
    digits = minor_digits(currency)
    amount = int(value.get("amount", 0)) / (10**digits)
    text = f"{amount:,.{digits}f}"
    symbol = SYMBOLS.get(currency)
    return f"{symbol}{text}" if symbol else f"{text} {currency}"


def to_minor_units(text: str, currency: str) -> int:
    """`"450"` or `"450.00"` → 45000 (ValueError if not a non-negative amount)."""
    digits = minor_digits(currency)
    whole, _, fraction = text.strip().replace(",", "").partition(".")
    if not whole.isdigit() or (fraction and not fraction.isdigit()) or len(fraction) > digits:
        raise ValueError(f"an amount like 450 or 450.{'0' * digits}")
    scale: int = 10**digits
    return int(whole) * scale + int((fraction or "0").ljust(digits, "0") or "0")


def parse_instant(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def local_time(value: str | None) -> str:
    """An instant in the offset the server gave it (the airport's): `08:30`."""
    instant = parse_instant(value)
    return instant.strftime("%H:%M") if instant else "—"


def local_date_time(value: str | None) -> str:
    """`Tue 1 Dec 08:30` in the instant's own (airport) offset."""
    instant = parse_instant(value)
    if instant is None:
        return "—"
    return f"{instant.strftime('%a')} {instant.day} {instant.strftime('%b %H:%M')}"


def day_offset(departure: str | None, arrival: str | None) -> str:
    """`+1` when the arrival's local date is after the departure's."""
    start, end = parse_instant(departure), parse_instant(arrival)
    if start is None or end is None:
        return ""
    days = (end.date() - start.date()).days
    return f"+{days}" if days > 0 else ""


def duration(minutes: int | None) -> str:
    if minutes is None:
        return "—"
    hours, rest = divmod(int(minutes), 60)
    return f"{hours}h {rest:02d}m" if hours else f"{rest}m"


def label(value: str | None) -> str:
    """`pending_payment` → `Pending payment`."""
    return (value or "").replace("_", " ").capitalize()


def parse_date(text: str) -> date:
    """`2026-12-01` (ValueError otherwise)."""
    return date.fromisoformat(text.strip())


def local_to_instant(text: str, timezone: str) -> str:
    """`2026-12-01 08:30` at an airport (its IANA zone) → ISO 8601 with that day's offset.
    Text that already carries an offset is kept as it is."""
    value = datetime.fromisoformat(text.strip().replace(" ", "T"))
    if value.tzinfo is None:
        try:
            value = value.replace(tzinfo=ZoneInfo(timezone))
        except ZoneInfoNotFoundError as exc:
            raise ValueError(f"unknown time zone {timezone}; add the offset (+01:00)") from exc
    return value.isoformat()


def leg(flight: Mapping[str, Any]) -> str:
    """`FD101 JFK` + en dash + `LHR`."""
    return f"{flight['flight_number']} {flight['origin']}{TO}{flight['destination']}"


# Characters the app's font (Roboto) cannot draw, and what it draws instead. The web client
# would fetch a fallback font from a CDN, which a page served without one never loads.
UNDRAWABLE = str.maketrans({"\u2192": TO, "\u2190": TO, "\u21d2": TO})


def drawable(text: str) -> str:
    """`text` (e.g. a server's notification) with the characters Roboto lacks replaced."""
    return text.translate(UNDRAWABLE)
