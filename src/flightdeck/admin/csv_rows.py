"""The CSV form of each listing and report: the same rows as the JSON, one line each.

Nested values are flattened: a flight's cabins become `<cabin>_capacity`, `<cabin>_sold` and
`<cabin>_load_factor` for every cabin class (empty when not offered); money becomes its amount
in minor units (`<field>_amount` and `<field>_currency` where a row has several currencies'
worth of context, the amount alone in reports, whose rows name their currency); a booking's
segments one text cell (`FD101 JFK-LHR 2026-12-01`, `|` between segments); an audit entry's
before/after their JSON text; a list of money `45000 USD; 1200 EUR`.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterable, AsyncIterator, Callable, Mapping
from typing import Any, TypeVar

from flightdeck.admin.reports import report_columns
from flightdeck.admin.schemas import AuditEntryRead, ReportRow
from flightdeck.flights.reports.schemas import FlightOperationsRead
from flightdeck.platform.money import Money
from flightdeck.users.accounts.schemas import UserAccountRead

T = TypeVar("T")
CABIN_CLASSES = ("economy", "premium_economy", "business", "first")
CABIN_FIELDS = ("capacity", "sold", "load_factor")

FLIGHT_COLUMNS = [
    *(name for name in FlightOperationsRead.model_fields if name != "cabins"),
    *(
        f"{cabin}_{field}"
        for cabin in CABIN_CLASSES
        for field in ("capacity", "sold", "load_factor")
    ),
]
BOOKING_COLUMNS = [
    "id",
    "pnr",
    "owner_email",
    "user_id",
    "status",
    "cabin",
    "passengers",
    "segments",
    "total_price_amount",
    "total_price_currency",
    "amount_paid_amount",
    "amount_refunded_amount",
    "created_at",
    "cancelled_at",
    "cancellation_reason",
    "expired_at",
]
USER_COLUMNS = list(UserAccountRead.model_fields)
AUDIT_COLUMNS = list(AuditEntryRead.model_fields)


async def mapped(
    rows: AsyncIterable[T], to_csv: Callable[[T], Mapping[str, Any]]
) -> AsyncIterator[Mapping[str, Any]]:
    async for row in rows:
        yield to_csv(row)


def flight_csv(flight: FlightOperationsRead) -> dict[str, Any]:
    row = flight.model_dump(mode="json", exclude={"cabins"})
    for cabin in flight.cabins:
        row[f"{cabin.cabin}_capacity"] = cabin.capacity
        row[f"{cabin.cabin}_sold"] = cabin.sold
        row[f"{cabin.cabin}_load_factor"] = cabin.load_factor
    return row


def segments_text(segments: list[dict[str, Any]]) -> str:
    return "|".join(
        f"{s['flight_number']} {s['origin']}-{s['destination']} {s['service_date'].isoformat()}"
        for s in segments
    )


def booking_csv(booking: dict[str, Any]) -> dict[str, Any]:
    """A row of `listings.booking_rows` (plain data) as its CSV line."""
    row = dict(booking)
    row["segments"] = segments_text(booking["segments"])
    row["total_price_amount"] = booking["total_price"]["amount"]
    row["total_price_currency"] = booking["total_price"]["currency"]
    row["amount_paid_amount"] = booking["amount_paid"]["amount"]
    row["amount_refunded_amount"] = booking["amount_refunded"]["amount"]
    return row


def user_csv(user: UserAccountRead) -> dict[str, Any]:
    return user.model_dump(mode="json")


def audit_csv(entry: AuditEntryRead) -> dict[str, Any]:
    row = entry.model_dump(mode="json")
    for side in ("before", "after"):
        value = row[side]
        row[side] = None if value is None else json.dumps(value, sort_keys=True)
    return row


def money_list_text(amounts: list[Money]) -> str:
    return "; ".join(f"{money.amount} {money.currency}" for money in amounts)


def report_csv(row: ReportRow) -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for name in type(row).model_fields:
        value = getattr(row, name)
        if isinstance(value, Money):
            value = value.amount
        elif isinstance(value, list):
            value = money_list_text(value)
        flat[name] = value
    return flat


def report_csv_columns(report_type: str) -> list[str]:
    return list(report_columns(report_type))
