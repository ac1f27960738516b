"""Pure rules of the admin work, without a server: masking personal data, CSV cells,
refund shares, and SQL date truncation on both engines' SQL text."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import column, select
from sqlalchemy.dialects import postgresql, sqlite

from flightdeck.payments.segments import split_in_proportion
from flightdeck.platform.audit import mask_personal_data
from flightdeck.platform.csv_export import csv_chunks
from flightdeck.platform.events.bus import Event
from flightdeck.platform.reporting import group_key
from flightdeck.platform.security.identity import (
    USER_CHANGED,
    Identity,
    IdentityCache,
    evict_changed_user,
    forget_identity,
)
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


class _Timer:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.asyncio
async def test_an_identity_is_cached_for_its_ttl_then_read_again() -> None:
    timer, loads = _Timer(), []

    async def load() -> Identity:
        loads.append(1)
        return Identity("u1", "agent", True, 0)

    cache = IdentityCache(10, timer=timer)
    assert (await cache.get("u1", load)).role == "agent"
    timer.now = 9.9
    await cache.get("u1", load)
    assert len(loads) == 1
    timer.now = 10.1
    await cache.get("u1", load)
    assert len(loads) == 2


@pytest.mark.asyncio
async def test_a_read_that_overlapped_an_eviction_is_not_kept() -> None:
    cache = IdentityCache(60, timer=_Timer())
    stale = Identity("u1", "agent", True, 0)

    async def slow_stale_read() -> Identity:
        # The change commits (and evicts) while this read of the old row is in flight.
        forget_identity("u1")
        return stale

    assert await cache.get("u1", slow_stale_read) == stale
    fresh = Identity("u1", "passenger", True, 0)

    async def fresh_read() -> Identity:
        return fresh

    assert await cache.get("u1", fresh_read) == fresh


@pytest.mark.asyncio
async def test_the_user_changed_event_evicts_the_user_from_every_cache() -> None:
    first, second = IdentityCache(60, timer=_Timer()), IdentityCache(60, timer=_Timer())
    for cache in (first, second):
        await cache.get("u1", _identity_of("agent"))
        await cache.get("u2", _identity_of("agent"))
    event = Event(
        id="e1",
        type=USER_CHANGED,
        aggregate_type="user",
        aggregate_id="u1",
        payload={"user_id": "u1", "changed": ["role"]},
        occurred_at=datetime.now(UTC),
    )
    await evict_changed_user(event)
    for cache in (first, second):
        assert (await cache.get("u1", _identity_of("passenger"))).role == "passenger"
        assert (await cache.get("u2", _identity_of("passenger"))).role == "agent"


def _identity_of(role: str):  # type: ignore[no-untyped-def]
    async def load() -> Identity:
        return Identity("u", role, True, 0)

    return load
