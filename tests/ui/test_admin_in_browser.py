"""The admin screens in a real headless Chromium against the real admin API: an administrator
reads the revenue report of money the test put through the API, changes a user's role and finds
it in the audit log (with the admin's address as the actor); an agent is offered no admin screen.

The suite's one FlightDeck server (tests/ui/conftest.py), one Chromium for the module; every
request to another host is aborted and counted."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser

from tests.ui.admin_seed import FLIGHT_NUMBER, RevenueSeed, dollars, seed_revenue
from tests.ui.app_server import ADMIN_EMAIL, AGENT_EMAIL, UiApp
from tests.ui.flutter import DESKTOP, AppPage, ExternalRequests, new_context


@pytest.fixture(scope="module")
def revenue_seed(ui_app: UiApp) -> RevenueSeed:
    return seed_revenue(ui_app)


@pytest.fixture
def admin(
    ui_app: UiApp, browser: Browser, external_requests: ExternalRequests, artifacts: Path
) -> Iterator[AppPage]:
    """A signed-in administrator's page at desktop width (the reports are its home)."""
    context = new_context(browser, external_requests, DESKTOP)
    app = AppPage(context.new_page(), artifacts, "admin")
    try:
        sign_in(app, ui_app.base_url, ADMIN_EMAIL, ui_app.admin_password)
        app.node("reports-heading").wait_for()
        yield app
    finally:
        context.close()


def sign_in(app: AppPage, base_url: str, email: str, password: str) -> None:
    app.open(base_url, "signin-email")
    app.fill("signin-email", email)
    app.fill("signin-password", password)
    app.click("signin-submit")


def tap(app: AppPage, within: str, button: str) -> None:
    """The button named `button` inside node `within` (a rail destination, a segment)."""
    app.settle()
    app.node(within).get_by_role("button", name=button).first.click()


def download_csv(app: AppPage, button: str) -> list[dict[str, str]]:
    """Clicks `button` and reads back the CSV file the browser downloaded."""
    with app.page.expect_download() as download:
        app.click(button)
    return list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text("utf-8-sig"))))


def show_report(app: AppPage, kind: str, grouping: str, day: str) -> None:
    app.choose("report-type", kind)
    app.choose("report-group-by", grouping)
    app.fill("report-from", day)
    app.fill("report-to", day)
    app.click("report-show")


def test_admin_reads_the_revenue_of_the_seeded_payments(
    admin: AppPage, revenue_seed: RevenueSeed
) -> None:
    day = revenue_seed.service_date
    show_report(admin, "Revenue", "Day", day)
    # Captured minus refunded, as the app writes dollars; the chart and the day's row beside.
    admin.expect_text("report-total-revenue", dollars(revenue_seed.revenue_cents))
    admin.expect_text("report-total-captured", dollars(revenue_seed.captured_cents))
    admin.expect_text("report-total-refunded", dollars(revenue_seed.refunded_cents))
    admin.expect_text("report-chart", "Revenue by Day (USD)")
    admin.expect_text("report-rows", day)
    admin.click("reports-heading")  # the "To" field lets go of the focus: a calm picture
    admin.screenshots_at_both_widths("13-admin-revenue")
    # The same report downloaded as CSV: the day's row, then the totals, in minor units.
    rows = download_csv(admin, "report-csv")
    assert [row["key"] for row in rows] == [day, "total"], rows
    assert int(rows[-1]["revenue"]) == revenue_seed.revenue_cents

    show_report(admin, "Revenue", "Flight", day)
    admin.expect_text("report-rows", FLIGHT_NUMBER)
    admin.expect_text("report-total-revenue", dollars(revenue_seed.revenue_cents))
    # Load factor by route: three travellers booked, one cancelled, on 24 seats.
    show_report(admin, "Occupancy", "Route", day)
    admin.expect_text("report-rows", "JFK-LHR")
    admin.expect_text("report-total-seats_sold", "2")
    admin.expect_text("report-chart", "Load factor by Route")


def test_admin_changes_a_users_role_and_the_audit_log_shows_it(
    admin: AppPage, revenue_seed: RevenueSeed
) -> None:
    email = revenue_seed.passenger_email
    tap(admin, "nav-rail", "Records")
    admin.node("records-heading").wait_for()
    tap(admin, "records-table", "Users")
    admin.fill("records-users-email", email)
    admin.click("records-show")
    admin.expect_text("records-users-rows", "passenger")
    assert [row["email"] for row in download_csv(admin, "records-csv")] == [email]

    admin.click(f"user-{email}-edit")
    admin.choose("edit-user-role", "Agent")
    admin.click("edit-user-dialog-submit")
    admin.expect_text("records-users-rows", "agent")

    tap(admin, "records-table", "Audit log")
    admin.fill("records-audit-entity", "user")
    admin.click("records-show")
    admin.expect_text("records-audit-rows", "role: passenger")
    admin.expect_text("records-audit-rows", "role: agent")
    admin.expect_text("records-audit-rows", ADMIN_EMAIL)  # who: the actor's address
    admin.screenshot("14-admin-audit")


def test_an_agent_is_offered_no_admin_screen(
    ui_app: UiApp, browser: Browser, external_requests: ExternalRequests, artifacts: Path
) -> None:
    context = new_context(browser, external_requests, DESKTOP)
    agent = AppPage(context.new_page(), artifacts, "agent-admin")
    try:
        sign_in(agent, ui_app.base_url, AGENT_EMAIL, ui_app.agent_password)
        agent.node("flights-heading").wait_for()
        agent.expect_text("nav-rail", "Schedules")
        offered = agent.text("nav-rail")
        assert "Reports" not in offered and "Records" not in offered, offered
        # Asked for by its address, an admin screen sends the agent home.
        agent.page.evaluate("() => { window.location.hash = '#/admin/reports'; }")
        agent.page.wait_for_function("() => window.location.hash === '#/agent/flights'")
        agent.node("flights-heading").wait_for()
        assert agent.page.locator("[flt-semantics-identifier='reports-heading']").count() == 0
    finally:
        context.close()
