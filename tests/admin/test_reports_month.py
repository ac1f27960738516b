"""Every report and grouping over a seeded month matches totals computed independently from
what the test did, on SQLite and PostgreSQL; each report's CSV parses back to its rows."""

from __future__ import annotations

import csv
import io
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.admin.month_expected import expected_report, groupings
from tests.admin.month_seed import Ledger, headers, seed_month
from tests.conftest import TestUser, assert_error

pytestmark = pytest.mark.asyncio(loop_scope="session")

REPORTS = ("revenue", "occupancy", "on_time", "cancellations")


async def _report(
    client: httpx.AsyncClient, bearer: dict[str, str], ledger: Ledger, **params: str
) -> httpx.Response:
    period = {"from": ledger.first_day.isoformat(), "to": ledger.last_day.isoformat()}
    return await client.get("/admin/reports", params=period | params, headers=bearer)


def _csv_cell(value: Any) -> str:
    """How the test expects a JSON value to read in the CSV (docs: money as its amount, a
    list of money as `amount CUR; …`, nothing as an empty cell)."""
    if value is None:
        return ""
    if isinstance(value, dict):
        return str(value["amount"])
    if isinstance(value, list):
        return "; ".join(f"{m['amount']} {m['currency']}" for m in value)
    return str(value)


async def test_every_report_and_grouping_matches_the_seeded_month(
    app: FastAPI, client: httpx.AsyncClient, admin: TestUser, agent: TestUser, backend: str
) -> None:
    ledger = await seed_month(client, app, agent)
    bearer = headers(app, admin)
    # The month has every kind of event the reports count.
    assert {b.outcome for b in ledger.bookings} == {
        "kept",
        "passenger",
        "staff",
        "airline",
        "expired",
    }
    assert any(len(b.flights) == 2 and 0 < b.refund < sum(b.amounts) for b in ledger.bookings)
    assert any(f.diverted for f in ledger.flights)
    for report in REPORTS:
        for grouping in groupings(report):
            response = await _report(client, bearer, ledger, type=report, group_by=grouping)
            assert response.status_code == 200, response.text
            body = response.json()
            expected = expected_report(ledger, report, grouping)
            assert expected["rows"], f"{report} by {grouping}: the month has figures"
            assert body["rows"] == expected["rows"], f"{backend} {report} by {grouping}"
            assert body["totals"] == expected["totals"], f"{backend} {report} totals"
            assert (body["type"], body["group_by"], body["from"]) == (
                report,
                grouping,
                ledger.first_day.isoformat(),
            )

            as_csv = await _report(
                client, bearer, ledger, type=report, group_by=grouping, format="csv"
            )
            assert as_csv.status_code == 200, as_csv.text
            parsed = list(csv.DictReader(io.StringIO(as_csv.text)))
            assert parsed == [
                {column: _csv_cell(value) for column, value in row.items()}
                for row in [*body["rows"], *body["totals"]]
            ]
    for report in ("on_time", "cancellations"):
        refused = await _report(client, bearer, ledger, type=report, group_by="cabin")
        assert_error(refused, 422, "unsupported_grouping")
    await _only_the_currency_asked_for(client, bearer, ledger)


async def _only_the_currency_asked_for(
    client: httpx.AsyncClient, bearer: dict[str, str], ledger: Ledger
) -> None:
    everything = (await _report(client, bearer, ledger, type="revenue", group_by="route")).json()
    euros = (
        await _report(client, bearer, ledger, type="revenue", group_by="route", currency="eur")
    ).json()
    assert {row["currency"] for row in everything["rows"]} == {"USD", "EUR"}
    assert euros["rows"] == [row for row in everything["rows"] if row["currency"] == "EUR"]
    assert euros["totals"] == [row for row in everything["totals"] if row["currency"] == "EUR"]
