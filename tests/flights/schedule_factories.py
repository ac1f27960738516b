"""Builders for schedule tests: request bodies, the moved clock, and SSIM records."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from fastapi import FastAPI
from tests.conftest import TestUser as AppUser

from flightdeck.platform.clock import clock
from flightdeck.platform.security.tokens import issue_access_token


def economy(seats: int = 150, amount: int = 45_000, currency: str = "USD") -> dict[str, Any]:
    return {"economy": {"seats": seats, "fare": {"amount": amount, "currency": currency}}}


def schedule_body(**overrides: Any) -> dict[str, Any]:
    """A daily JFK→LHR overnight schedule over three weeks of June 2026 (8th to 28th)."""
    body: dict[str, Any] = {
        "flight_number": "FD101",
        "origin": "JFK",
        "destination": "LHR",
        "departure_local": "18:30",
        "arrival_local": "06:30",
        "arrival_day_offset": 1,
        "days_of_week": "1234567",
        "valid_from": "2026-06-08",
        "valid_to": "2026-06-28",
        "aircraft": "77W",
        "cabins": economy(),
    }
    body.update(overrides)
    return body


def set_now(app: FastAPI, instant: datetime, user: AppUser) -> dict[str, str]:
    """Moves the app's clock to `instant`; returns the user's headers with a token valid then.

    `instant` must be before the real now: PyJWT refuses a token issued (`iat`) in the future
    of the wall clock. The `client` fixture resets the clock after the test.
    """
    clock.offset = instant - datetime.now(UTC)
    token, _ = issue_access_token(app.state.settings, user.id, user.role)
    return {"Authorization": f"Bearer {token}"}


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


# --- SSIM chapter 7 records (200 bytes; positions are the manual's 1-based bytes) ------------


def _record(fields: dict[int, str], serial: int) -> str:
    chars = [" "] * 200
    for first, text in fields.items():
        chars[first - 1 : first - 1 + len(text)] = text
    chars[194:200] = f"{serial:06d}"
    return "".join(chars)


def ssim_header() -> str:
    return _record({1: "1AIRLINE STANDARD SCHEDULE DATA SET"}, 1)


def ssim_carrier(airline: str = "FD", time_mode: str = "L", serial: int = 2) -> str:
    return _record({1: "2", 2: time_mode, 3: airline.ljust(3), 11: "W26"}, serial)


def ssim_leg(
    number: int,
    origin: str,
    departure: str,
    departure_variation: str,
    destination: str,
    arrival: str,
    arrival_variation: str,
    *,
    airline: str = "FD",
    leg_sequence: int = 1,
    itinerary_variation: int = 1,
    service_type: str = "J",
    period: tuple[str, str] = ("08JUN26", "28JUN26"),
    days: str = "1234567",
    aircraft: str = "320",
    configuration: str = "",
    date_variation: str = "  ",
    traffic: str = "",
    onward: str = "",
    serial: int = 3,
) -> str:
    """A flight leg; `days` in FlightDeck form ("135") becomes SSIM's positional mask;
    `onward` is bytes 138-146 as filed ("FD 0642")."""
    mask = "".join(str(d) if str(d) in days else " " for d in range(1, 8))
    return _record(
        {
            1: "3",
            3: airline.ljust(3),
            6: f"{number:04d}",
            10: f"{itinerary_variation:02d}",
            12: f"{leg_sequence:02d}",
            14: service_type,
            15: period[0],
            22: period[1],
            29: mask,
            37: origin,
            40: departure + departure,
            48: departure_variation,
            55: destination,
            58: arrival + arrival,
            66: arrival_variation,
            73: aircraft,
            138: onward,
            150: traffic,
            173: configuration,
            193: date_variation,
        },
        serial,
    )


def ssim_segment(
    number: int,
    board: str,
    off: str,
    identifier: int,
    data: str,
    *,
    airline: str = "FD",
    leg_sequence: int = 1,
    itinerary_variation: int = 1,
    serial: int = 4,
) -> str:
    """A segment data record (type 4): data element `identifier` of board → off."""
    return _record(
        {
            1: "4",
            3: airline.ljust(3),
            6: f"{number:04d}",
            10: f"{itinerary_variation:02d}",
            12: f"{leg_sequence:02d}",
            14: "J",
            31: f"{identifier:03d}",
            34: board,
            37: off,
            40: data,
        },
        serial,
    )


def ssim_trailer(airline: str = "FD", serial: int = 99) -> str:
    return _record({1: "5", 3: airline.ljust(3), 194: "E"}, serial)


def ssim_file(*legs: str, airline: str = "FD", time_mode: str = "L") -> bytes:
    lines = [ssim_header(), ssim_carrier(airline, time_mode), *legs]
    return ("\n".join(lines) + "\n").encode()


def service_dates(flights: list[dict[str, Any]]) -> list[date]:
    return sorted(date.fromisoformat(f["service_date"]) for f in flights)
