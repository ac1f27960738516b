"""Which flight changes call for a notification, how times and money read, and the email
built from a notification (no server, no database)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from flightdeck.notifications.email import render_email
from flightdeck.notifications.handlers import flight_change_kind
from flightdeck.notifications.models import Notification
from flightdeck.notifications.texts import local_time, money_text
from flightdeck.users.service import UserContact


@pytest.fixture(autouse=True)
def smtp() -> None:
    """Nothing here needs the app or a database (the package's SMTP fixture brings both)."""


def change(status: str, *changed: str, **fields: Any) -> dict[str, Any]:
    return {"status": status, "changed": {name: {} for name in changed}, **fields}


@pytest.mark.parametrize(
    ("payload", "kind"),
    [
        (change("delayed", "status", "estimated_departure"), "flight.delayed"),
        (change("delayed", "estimated_departure", "delay_minutes"), "flight.delayed"),
        (change("delayed", "remark"), None),  # the same delay, reworded
        (change("cancelled", "status"), "flight.cancelled"),
        (change("diverted", "status", "diverted_to"), "flight.diverted"),
        (change("on_time", "gate", gate="B7"), "flight.gate_changed"),
        (change("boarding", "status", "gate", gate="B7"), "flight.gate_changed"),
        (change("on_time", "gate", gate=None), None),  # a gate cleared: nothing to tell
        (change("boarding", "status"), None),
        (change("departed", "status", "actual_departure"), None),
        (change("delayed", "status", "gate", gate="C1"), "flight.delayed"),  # gate in its text
    ],
)
def test_only_delays_cancellations_diversions_and_new_gates_notify(
    payload: dict[str, Any], kind: str | None
) -> None:
    assert flight_change_kind(payload) == kind


def test_times_read_in_the_airports_own_offset() -> None:
    assert local_time("2026-12-01T10:05:00-05:00") == "Tue 1 Dec 2026, 10:05 (UTC-05:00)"
    assert local_time("2026-07-04T23:50:00+05:30") == "Sat 4 Jul 2026, 23:50 (UTC+05:30)"
    assert local_time("2026-03-29T01:00:00+00:00") == "Sun 29 Mar 2026, 01:00 (UTC+00:00)"


def test_money_reads_in_major_units() -> None:
    assert money_text({"amount": 45000, "currency": "USD"}) == "450.00 USD"
    assert money_text({"amount": 123456789, "currency": "EUR"}) == "1,234,567.89 EUR"
    assert money_text({"amount": 9800, "currency": "JPY"}) == "9,800 JPY"
    assert money_text({"amount": 0, "currency": "USD"}) is None
    assert money_text(None) is None


def test_an_email_keeps_a_hostile_title_and_name_on_one_header_line() -> None:
    notification = Notification(
        id="n-1",
        user_id="u-1",
        kind="message",
        title="Gate news\r\nBcc: everyone@example.com",
        message="<b>Board</b> now & hurry",
        data={},
        batch_id="b-1",
        created_at=datetime(2026, 12, 1, 12, 0, tzinfo=UTC),
    )
    contact = UserContact("ada@example.com", "Ada\nLovelace", {"email": True})
    email = render_email(notification, contact, "FlightDeck <no-reply@flightdeck.local>")
    assert email["Subject"] == "Gate news Bcc: everyone@example.com"
    assert email["Bcc"] is None
    assert email["To"] == "Ada Lovelace <ada@example.com>"
    assert email["Message-ID"] == "<notification-n-1@flightdeck.local>"
    plain = email.get_body(preferencelist=("plain",))
    html = email.get_body(preferencelist=("html",))
    assert plain is not None and html is not None
    assert "<b>Board</b> now & hurry" in plain.get_content()
    assert "&lt;b&gt;Board&lt;/b&gt; now &amp; hurry" in html.get_content()
