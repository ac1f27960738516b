"""Money the admin screens' browser tests can count: a flight of its own on a day nobody else
flies (so a report of that day holds only this), two bookings paid by card through the API,
one of them cancelled for a refund. The expected revenue is worked out here from what the API
answered: the payments it took minus the refund it paid back."""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import httpx

from tests.ui.app_server import ADMIN_EMAIL, AGENT_EMAIL, DAYS_AHEAD, UiApp

FLIGHT_NUMBER = "FD991"
DAYS_AFTER_THE_BOOKING_TESTS = 4  # the passenger test's FD990 flies on another day
FARE_CENTS = 12_345  # an odd fare: its sums cannot be a coincidence
CARD = {
    "type": "card",
    "number": "4242424242424242",
    "exp_month": 12,
    "exp_year": 2031,
    "cvc": "123",
    "holder": "Grace Hopper",
}
REFUND_RECORDED_WITHIN_SECONDS = 30.0


@dataclass(frozen=True)
class RevenueSeed:
    service_date: str
    passenger_email: str
    captured_cents: int
    refunded_cents: int

    @property
    def revenue_cents(self) -> int:
        return self.captured_cents - self.refunded_cents


def dollars(cents: int) -> str:
    """How the app writes US dollars: `$1,234.56`."""
    return f"${cents / 100:,.2f}"


def _signed_in(http: httpx.Client, email: str, password: str) -> dict[str, str]:
    login = http.post("/login", json={"email": email, "password": password})
    return {"Authorization": f"Bearer {login.raise_for_status().json()['access_token']}"}


def _add_flight(http: httpx.Client, agent: dict[str, str], day: dt.date) -> str:
    new_york, london = ZoneInfo("America/New_York"), ZoneInfo("Europe/London")
    created = http.post(
        "/flights",
        headers=agent,
        json={
            "flight_number": FLIGHT_NUMBER,
            "origin": "JFK",
            "destination": "LHR",
            "departure_time": dt.datetime.combine(day, dt.time(9, 0), new_york).isoformat(),
            "arrival_time": dt.datetime.combine(day, dt.time(21, 10), london).isoformat(),
            "aircraft": "320",
            "cabins": {"economy": {"seats": 24, "fare": {"amount": FARE_CENTS, "currency": "USD"}}},
        },
    )
    return str(created.raise_for_status().json()["id"])


def _book_and_pay(
    http: httpx.Client, passenger: dict[str, str], flight_id: str, travellers: int
) -> tuple[str, int]:
    """A booking of `travellers` paid by card → (booking id, cents the payment took)."""
    people = [
        {"first_name": "Grace", "last_name": "Hopper", "date_of_birth": f"1980-01-{n + 1:02d}"}
        for n in range(travellers)
    ]
    booking = (
        http.post(
            "/bookings",
            headers=passenger,
            json={"segments": [flight_id], "cabin": "economy", "passengers": people},
        )
        .raise_for_status()
        .json()
    )
    payment = (
        http.post(
            "/payments",
            headers={**passenger, "Idempotency-Key": f"ui-admin-{booking['id']}"},
            json={"booking_id": booking["id"], "method": CARD},
        )
        .raise_for_status()
        .json()
    )
    assert payment["status"] == "succeeded", payment
    return str(booking["id"]), int(payment["amount"]["amount"])


def _wait_for_refund(http: httpx.Client, admin: dict[str, str], booking_id: str) -> None:
    """Until the cancelled booking's refund is on record (a worker may pay it back)."""
    deadline = time.monotonic() + REFUND_RECORDED_WITHIN_SECONDS
    while time.monotonic() < deadline:
        listed = http.get("/admin/bookings", headers=admin, params={"status": "cancelled"})
        for booking in listed.raise_for_status().json()["items"]:
            if booking["id"] == booking_id and booking["amount_refunded"]["amount"] > 0:
                return
        time.sleep(0.5)
    raise AssertionError(f"the refund of booking {booking_id} was never recorded")


def seed_revenue(ui_app: UiApp) -> RevenueSeed:
    day = dt.date.today() + dt.timedelta(days=DAYS_AHEAD + DAYS_AFTER_THE_BOOKING_TESTS)
    email = f"grace-{time.time_ns()}@example.com"
    password = "correct-horse-battery"
    with httpx.Client(base_url=ui_app.base_url, timeout=20) as http:
        agent = _signed_in(http, AGENT_EMAIL, ui_app.agent_password)
        admin = _signed_in(http, ADMIN_EMAIL, ui_app.admin_password)
        flight_id = _add_flight(http, agent, day)
        http.post(
            "/register", json={"email": email, "password": password, "full_name": "Grace Hopper"}
        ).raise_for_status()
        passenger = _signed_in(http, email, password)
        kept_id, kept_cents = _book_and_pay(http, passenger, flight_id, travellers=2)
        cancelled_id, cancelled_cents = _book_and_pay(http, passenger, flight_id, travellers=1)
        cancelled = http.delete(f"/bookings/{cancelled_id}", headers=passenger)
        refund_cents = int(cancelled.raise_for_status().json()["refund"]["amount"])
        _wait_for_refund(http, admin, cancelled_id)
    assert kept_id != cancelled_id
    return RevenueSeed(day.isoformat(), email, kept_cents + cancelled_cents, refund_cents)
