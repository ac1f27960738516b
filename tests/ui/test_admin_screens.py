"""The admin screens' side of the contract with the real admin API (in process, SQLite and
PostgreSQL): every filter, column and report parameter the screens use is one the API serves,
dates typed for the audit log's instants filter it, and figures are written as people read
them."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest_asyncio
from fastapi import FastAPI

from flightdeck.ui.api import ApiClient, ApiError
from flightdeck.ui.screens.admin_reports import (
    GROUPINGS,
    REPORT_ERROR_FIELDS,
    REPORTS,
    round_up,
)
from flightdeck.ui.screens.admin_tables import TABLES, as_instant, csv_rows
from flightdeck.ui.tables import cell_text
from tests.conftest import SUITE_NOW, TestUser, create_user


@pytest_asyncio.fixture(loop_scope="session")
async def admin_api(
    app: FastAPI, client: httpx.AsyncClient, admin: TestUser
) -> AsyncIterator[ApiClient]:
    """The app's client signed in as an administrator (`client` empties the tables after)."""
    transport = httpx.ASGITransport(app=app, client=("203.0.113.30", 50000))
    api = ApiClient("http://testserver", transport=transport)
    await api.sign_in(admin.email, admin.password)
    yield api
    await api.aclose()


def _query_parameters(app: FastAPI, path: str) -> set[str]:
    operation = app.openapi()["paths"][path]["get"]
    return {p["name"] for p in operation["parameters"] if p["in"] == "query"}


def _item_fields(app: FastAPI, path: str) -> set[str]:
    schemas = app.openapi()["components"]["schemas"]
    page = app.openapi()["paths"][path]["get"]["responses"]["200"]["content"]
    reference = page["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
    item = schemas[reference]["properties"]["items"]["items"]["$ref"].rsplit("/", 1)[-1]
    return set(schemas[item]["properties"])


async def test_every_filter_and_column_of_the_records_screen_is_served(app: FastAPI) -> None:
    for table in TABLES:
        path = f"/admin/{table.name}"
        served = _query_parameters(app, path)
        assert {f.name for f in table.filters} <= served, table.name
        assert {"limit", "cursor", "format"} <= served
        assert set(table.columns) <= _item_fields(app, path), table.name


async def test_every_report_and_grouping_the_screen_offers_is_answered(
    admin_api: ApiClient, app: FastAPI
) -> None:
    assert {"type", "from", "to", "group_by", "currency"} <= _query_parameters(
        app, "/admin/reports"
    )
    day = SUITE_NOW.date().isoformat()
    refused = set()
    for kind in REPORTS:
        for grouping in GROUPINGS:
            params = {"type": kind, "group_by": grouping, "from": day, "to": day}
            try:
                report = await admin_api.admin_report(params)
            except ApiError as error:
                assert error.code == "unsupported_grouping", error.message
                refused.add((kind, grouping))
                continue
            assert (report["type"], report["group_by"]) == (kind, grouping)
            assert report["rows"] == []  # nothing flies that day
            # One totals row (revenue: one per currency, so none without money).
            assert len(report["totals"]) == (kind != "revenue"), (kind, grouping)
    # As docs/API.md says: punctuality and cancellations are per flight, not per cabin (the
    # screen shows the server's message by the grouping, REPORT_ERROR_FIELDS).
    assert refused == {("on_time", "cabin"), ("cancellations", "cabin")}
    assert REPORT_ERROR_FIELDS["unsupported_grouping"] == "group_by"


async def test_dates_typed_for_the_audit_log_filter_its_instants(
    admin_api: ApiClient, app: FastAPI
) -> None:
    user = await create_user(app, "passenger")
    await admin_api.admin_update_user(user.id, {"role": "agent", "active": True})
    today = SUITE_NOW.date()

    async def entries(start: dt.date, end: dt.date) -> list[dict[str, Any]]:
        params = {
            "entity": "user",
            "entity_id": user.id,
            "from": as_instant("from", start.isoformat()),
            "to": as_instant("to", end.isoformat()),
        }
        page = await admin_api.admin_list("audit", params)
        return list(page["items"])

    (entry,) = await entries(today, today)  # `to` is excluded: the whole day is asked for
    assert (entry["before"]["role"], entry["after"]["role"]) == ("passenger", "agent")
    assert await entries(today + dt.timedelta(days=1), today + dt.timedelta(days=2)) == []
    csv_data = await admin_api.admin_csv("audit", {"entity_id": user.id})
    assert csv_rows(csv_data) == 1


async def test_pages_follow_the_cursor_as_the_records_screen_asks_for_them(
    admin_api: ApiClient, app: FastAPI
) -> None:
    for _ in range(2):
        await create_user(app, "passenger")
    seen: list[str] = []
    cursor = None
    while True:  # as RecordsScreen._load_more: the filters, the page size, the last cursor
        page = await admin_api.admin_list(
            "users", {"role": "passenger", "active": "true", "limit": 1, "cursor": cursor}
        )
        seen += [user["id"] for user in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == 2


def test_a_typed_date_becomes_the_instants_the_audit_log_takes() -> None:
    assert as_instant("from", "2026-11-02") == "2026-11-02T00:00:00Z"
    assert as_instant("to", "2026-11-02") == "2026-11-03T00:00:00Z"
    assert as_instant("to", "2026-11-02T08:00:00+01:00") == "2026-11-02T08:00:00+01:00"


def test_shares_are_percentages_and_other_measures_plain_numbers() -> None:
    assert cell_text(0.8126, "load_factor") == "81.3%"
    assert cell_text(0.5, "average_delay_minutes") == "0.50"
    assert cell_text(1.4855601, "yield_per_rpk") == "1.485560"
    assert cell_text({"amount": 24690, "currency": "USD"}, "revenue") == "$246.90"


def test_a_charts_top_is_a_round_number_above_the_highest_value() -> None:
    assert [round_up(v) for v in (0, 0.3, 1, 271.59, 2600, 41_000)] == [
        1,
        0.5,
        1,
        500,
        5000,
        50_000,
    ]


def test_csv_rows_count_records_not_lines() -> None:
    data = '\ufeffid,after\r\n1,"{""remark"": ""two\nlines""}"\r\n2,{}\r\n'.encode()
    assert csv_rows(data) == 2
