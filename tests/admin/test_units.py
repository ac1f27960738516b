"""Pure rules of the admin work, without a server: masking personal data, CSV cells,
refund shares, and SQL date truncation on both engines' SQL text."""

from __future__ import annotations

import csv
import io
from datetime import date

import pytest
from sqlalchemy import column, select
from sqlalchemy.dialects import postgresql, sqlite

from flightdeck.payments.segments import split_in_proportion
from flightdeck.platform.audit import mask_personal_data
from flightdeck.platform.csv_export import csv_chunks
from flightdeck.platform.reporting import group_key
from flightdeck.platform.sql_dates import month_start, week_start


def test_masking_reaches_every_depth_and_keeps_what_is_not_personal() -> None:
    masked = mask_personal_data(
        {
            "pnr": "ABC234",
            "passengers": [
                {
                    "first_name": "Grace",
                    "last_name": "Hopper",
                    "date_of_birth": "1906-12-09",
                    "passport_number": "X1234567",
                }
            ],
            "contact": {"email": "grace@navy.mil", "phone": "+12025550100"},
            "password": "hunter2-hunter2",
            "seats": 3,
        }
    )
    assert masked == {
        "pnr": "ABC234",
        "passengers": [
            {
                "first_name": "***",
                "last_name": "***",
                "date_of_birth": "***",
                "passport_number": "***67",
            }
        ],
        "contact": {"email": "g***@navy.mil", "phone": "***"},
        "password": "***",
        "seats": 3,
    }


async def _rows(*rows: dict[str, object]):  # type: ignore[no-untyped-def]
    for row in rows:
        yield row


@pytest.mark.asyncio
async def test_csv_cells_round_trip_commas_quotes_line_breaks_and_unicode() -> None:
    tricky = [
        {"a": 'say "hi", then\nleave', "b": 1},
        {"a": "Zoë, Ærø; 東京", "b": None},
        {"a": "", "b": True},
    ]
    text = b"".join([chunk async for chunk in csv_chunks(["a", "b"], _rows(*tricky))]).decode()
    assert list(csv.DictReader(io.StringIO(text))) == [
        {"a": 'say "hi", then\nleave', "b": "1"},
        {"a": "Zoë, Ærø; 東京", "b": ""},
        {"a": "", "b": "true"},
    ]


@pytest.mark.asyncio
async def test_a_cell_a_spreadsheet_would_run_as_a_formula_is_neutralised() -> None:
    rows = _rows({"a": '=HYPERLINK("http://x")'}, {"a": "@SUM(A1)"}, {"a": -5})
    text = b"".join([chunk async for chunk in csv_chunks(["a"], rows)]).decode()
    cells = [row["a"] for row in csv.DictReader(io.StringIO(text))]
    assert cells == ['\'=HYPERLINK("http://x")', "'@SUM(A1)", "-5"]


def test_refunds_are_split_in_proportion_and_add_up_exactly() -> None:
    assert split_in_proportion(100, [1, 1, 1]) == [34, 33, 33]
    assert split_in_proportion(45_001, [30_000, 15_000]) == [30_001, 15_000]
    assert split_in_proportion(7, [0, 0]) == [7, 0]
    for total in range(0, 500, 7):
        assert sum(split_in_proportion(total, [3, 5, 11])) == total


def test_week_and_month_starts_are_written_for_each_engine() -> None:
    day = column("service_date")
    lite = str(select(week_start(day), month_start(day)).compile(dialect=sqlite.dialect()))
    assert "date(service_date, 'weekday 0', '-6 days')" in lite
    assert "date(service_date, 'start of month')" in lite
    pg = str(select(week_start(day), month_start(day)).compile(dialect=postgresql.dialect()))
    assert "date_trunc('week', CAST(service_date AS TIMESTAMP))" in pg
    assert "date_trunc('month', CAST(service_date AS TIMESTAMP))" in pg


def test_group_keys_read_alike_from_either_engine() -> None:
    assert group_key("day", [date(2026, 3, 4)]) == group_key("day", ["2026-03-04"]) == "2026-03-04"
    assert group_key("month", [date(2026, 3, 1)]) == group_key("month", ["2026-03-01"]) == "2026-03"
    assert group_key("route", ["JFK", "LHR"]) == "JFK-LHR"
    assert group_key(None, []) == "total"
