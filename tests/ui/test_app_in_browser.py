"""The app in a real headless Chromium against a real FlightDeck server: a passenger books,
pays and follows a delay live; an agent makes the delay; the page loads compressed and a reload
comes from the browser's cache; the sign-in form works from the keyboard.

One server and one browser for the session; every request to another host is aborted and
counted (the Flutter client asks a CDN for one Rive script and carries on without it)."""

from __future__ import annotations

import json
import time
from pathlib import Path

from playwright.sync_api import Browser

from tests.ui.app_server import AGENT_EMAIL, FLIGHT_NUMBER, UiApp
from tests.ui.flutter import (
    DESKTOP,
    PHONE,
    AppPage,
    ExternalRequests,
    is_external,
    measure_load,
    new_context,
)

CARD = {
    "pay-card-number": "4242 4242 4242 4242",
    "pay-exp-month": "12",
    "pay-exp-year": "2031",
    "pay-cvc": "123",
    "pay-holder": "Ada Lovelace",
}
PASSENGER = {
    "passenger-0-first-name": "Ada",
    "passenger-0-last-name": "Lovelace",
    "passenger-0-date-of-birth": "1990-12-10",
    "passenger-0-passport": "X1234567",
}


def sign_up(app: AppPage, email: str) -> None:
    app.page.get_by_role("button", name="Create account").first.click()
    app.fill("signup-full_name", "Ada Lovelace")
    app.fill("signup-email", email)
    app.fill("signup-password", "correct-horse-battery")
    app.click("signup-submit")
    app.node("search-origin").wait_for()


def search_jfk_to_lhr(app: AppPage, day: str) -> None:
    app.fill("search-origin", "JF")
    app.click("search-origin-option-JFK")  # picked from the type-ahead
    app.fill("search-destination", "LHR")
    app.fill("search-date", day)
    app.click("search-submit")
    app.expect_text("itinerary-0", FLIGHT_NUMBER)


def book_seat_and_pay(app: AppPage, seat: str) -> None:
    app.click("select-itinerary-0")
    app.click(f"seat-0-{seat}")
    app.expect_text("seatmap-0-choice", f"P1: {seat}")
    for identifier, value in PASSENGER.items():
        app.fill(identifier, value)
    app.screenshots_at_both_widths("03-seats-and-passengers")
    app.click("booking-submit")
    for identifier, value in CARD.items():
        app.fill(identifier, value)
    app.screenshots_at_both_widths("04-payment")
    app.click("pay-submit")
    app.expect_text("trip-status", "Confirmed")


def agent_delays_flight(agent: AppPage, ui_app: UiApp, minutes: int, gate: str) -> None:
    agent.open(ui_app.base_url, "signin-email")
    agent.fill("signin-email", AGENT_EMAIL)
    agent.fill("signin-password", ui_app.agent_password)
    agent.click("signin-submit")
    agent.fill("flights-filter-date", ui_app.service_date)
    agent.fill("flights-filter-flight-number", FLIGHT_NUMBER)
    agent.click("flights-apply")
    row = f"flight-{FLIGHT_NUMBER}-{ui_app.service_date}"
    agent.expect_text(row, "Scheduled")
    agent.screenshots_at_both_widths("06-agent-flights")
    agent.click(f"{row}-status-button")
    agent.choose("status-status", "Delayed")
    agent.fill("status-delay", str(minutes))
    agent.fill("status-gate", gate)
    agent.screenshot("07-agent-status")
    agent.click("status-dialog-submit")
    agent.expect_text(f"{row}-status", "Delayed")


def test_passenger_books_pays_sees_the_delay_live_and_cancels_for_a_refund(
    ui_app: UiApp, browser: Browser, external_requests: ExternalRequests, artifacts: Path
) -> None:
    passenger_context = new_context(browser, external_requests, PHONE)
    agent_context = new_context(browser, external_requests, DESKTOP)
    passenger = AppPage(passenger_context.new_page(), artifacts, "passenger")
    try:
        passenger.open(ui_app.base_url, "signin-email")
        passenger.screenshots_at_both_widths("01-sign-in")
        sign_up(passenger, f"ada-{time.time_ns()}@example.com")
        search_jfk_to_lhr(passenger, ui_app.service_date)
        passenger.screenshots_at_both_widths("02-search-results")
        book_seat_and_pay(passenger, "3C")
        passenger.expect_text("flight-0", f"{FLIGHT_NUMBER} JFK")
        passenger.expect_text("flight-0", "Seats: 3C")
        passenger.screenshots_at_both_widths("05-trip-confirmed")
        # Marks this document: were it reloaded, the mark would be gone.
        passenger.page.evaluate("() => { window.flightdeckTestMark = 'same page'; }")

        agent_delays_flight(AppPage(agent_context.new_page(), artifacts, "agent"), ui_app, 45, "B7")

        passenger.expect_text("flight-0-status", "Delayed")
        passenger.expect_text("flight-0-delay", "Delayed 45m: now departs 19:15")
        passenger.expect_text("flight-0-gate", "Gate B7")
        assert passenger.page.evaluate("() => window.flightdeckTestMark") == "same page"
        passenger.screenshots_at_both_widths("08-trip-delayed")

        passenger.click("trip-cancel")
        passenger.node("cancel-confirm").wait_for()
        passenger.expect_text("cancel-dialog-text", "Refund if you cancel now: $450.00")
        passenger.screenshot("09-cancel-dialog")
        passenger.click("cancel-confirm")
        passenger.expect_text("trip-status", "Cancelled")
        passenger.expect_text("trip-outcome", "Refund: $450.00")
        passenger.screenshots_at_both_widths("10-trip-cancelled")
        passenger.click("bell")
        passenger.expect_text("inbox-list", "FD990")
        passenger.screenshots_at_both_widths("11-inbox")
    finally:
        passenger_context.close()
        agent_context.close()
    assert all(is_external(url) for url in external_requests.urls)


def test_sign_in_form_works_from_the_keyboard_and_shows_the_servers_error_by_the_field(
    ui_app: UiApp, browser: Browser, external_requests: ExternalRequests, artifacts: Path
) -> None:
    context = new_context(browser, external_requests, DESKTOP)
    app = AppPage(context.new_page(), artifacts, "keyboard")
    keys = app.page.keyboard
    try:
        app.open(ui_app.base_url, "signin-email")
        app.node("signin-email").locator("input").click()
        keys.type(AGENT_EMAIL)
        keys.press("Tab")  # to the password field
        app.page.wait_for_function(
            "() => document.activeElement?.getAttribute('aria-label') === 'Password'"
        )
        keys.type("not-the-password")
        keys.press("Enter")  # submits
        app.expect_text("signin-password", "Incorrect email or password")
        app.screenshot("12-sign-in-error")
        app.node("signin-password").locator("input").click()
        # Flutter places the caret where the click landed a frame or two later: a selection
        # made before that is undone. So: the focus, two frames, then select all (the key in
        # lower case: "Control+A" is Control+Shift+A) and type once it is selected.
        app.page.wait_for_function(
            "() => document.activeElement?.getAttribute('aria-label') === 'Password'"
        )
        app.settle()
        keys.press("ControlOrMeta+a")
        app.page.wait_for_function(
            "() => { const field = document.activeElement;"
            " return field.selectionStart === 0 && field.selectionEnd === field.value.length; }"
        )
        app.settle()
        keys.type(ui_app.agent_password)
        app.page.wait_for_function(
            "password => document.activeElement?.value === password", arg=ui_app.agent_password
        )
        keys.press("Enter")
        app.node("flights-heading").wait_for()
    finally:
        context.close()


def test_first_load_is_compressed_and_a_reload_comes_from_the_browser_cache(
    ui_app: UiApp, browser: Browser, external_requests: ExternalRequests, artifacts: Path
) -> None:
    # No routes here: Playwright turns the HTTP cache off in a context with routes. Other hosts
    # cannot be reached anyway (the browser resolves no other name); they are counted.
    context = browser.new_context(viewport=PHONE)
    page = context.new_page()
    page.on(
        "request", lambda r: external_requests.urls.append(r.url) if is_external(r.url) else None
    )
    try:
        first_seconds, first = measure_load(page, ui_app.base_url, reload=False)
        again_seconds, again = measure_load(page, ui_app.base_url, reload=True)
    finally:
        context.close()
    versioned = [r for r in first if "/_flet/" in r["url"]]
    big = [r for r in versioned if r["url"].endswith((".wasm", ".js", ".mjs"))]
    assert big and all(r["encoding"] == "br" for r in big), big
    over_wire_again = [r for r in again if "/_flet/" in r["url"] and not r["cached"]]
    assert over_wire_again == [], over_wire_again
    figures = {
        "first_load_seconds": round(first_seconds, 2),
        "first_load_bytes": sum(r["wire_bytes"] for r in first),
        "first_load_requests": len(first),
        "reload_seconds": round(again_seconds, 2),
        "reload_bytes": sum(r["wire_bytes"] for r in again if not r["cached"]),
        "reload_requests_over_the_network": sum(not r["cached"] for r in again),
    }
    (artifacts / "load.json").write_text(json.dumps(figures, indent=2))
