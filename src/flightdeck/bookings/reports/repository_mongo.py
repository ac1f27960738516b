"""The admin listing and the cancellation counts of the MongoDB booking store: aggregation
pipelines (the store's GROUP BY) over the indexed fields, passengers only counted ($size),
never read, so no personal data is decrypted.

Segments store `service_date` as an ISO date string (`YYYY-MM-DD`): a range of them compares
as text, a month is its first seven characters, a week start is computed from the ISO weekday.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, cast

from pymongo import DESCENDING

from flightdeck.bookings.mongo_client import BookingCollection
from flightdeck.bookings.records import (
    CANCELLED,
    EXPIRED,
    FLIGHT_CANCELLED_REASON,
    PASSENGER_CANCELLED_REASON,
    STAFF_CANCELLED_REASON,
    BookingStatus,
)
from flightdeck.bookings.reports.records import (
    BookingListQuery,
    BookingSummary,
    CancellationAggregate,
    SegmentSummary,
)
from flightdeck.bookings.repository_mongo import store_errors
from flightdeck.flights.airports import to_local
from flightdeck.platform.money import Money
from flightdeck.platform.reporting import GroupBy, ReportPeriod, group_key

DAY_MS = 86_400_000


def _match(query: BookingListQuery, after: tuple[datetime, str] | None) -> dict[str, Any]:
    match: dict[str, Any] = {}
    for field, value in (
        ("segments.flight_id", query.flight_id),
        ("status", query.status),
        ("pnr", query.pnr),
        ("user_id", query.user_id),
    ):
        if value is not None:
            match[field] = value
    created: dict[str, Any] = {}
    if query.created_from is not None:
        created["$gte"] = query.created_from
    if query.created_before is not None:
        created["$lt"] = query.created_before
    if created:
        match["created_at"] = created
    if after is not None:
        at, booking_id = after
        match["$or"] = [{"created_at": {"$lt": at}}, {"created_at": at, "_id": {"$lt": booking_id}}]
    return match


def summaries_pipeline(
    query: BookingListQuery, *, limit: int, after: tuple[datetime, str] | None
) -> list[dict[str, Any]]:
    return [
        {"$match": _match(query, after)},
        {"$sort": {"created_at": DESCENDING, "_id": DESCENDING}},
        {"$limit": limit},
        {
            "$project": {
                "pnr": 1,
                "user_id": 1,
                "status": 1,
                "cabin": 1,
                "total_price": 1,
                "created_at": 1,
                "cancelled_at": 1,
                "cancellation_reason": 1,
                "expired_at": 1,
                "segments": 1,
                "passengers": {"$size": "$passengers"},
            }
        },
    ]


def _segment(segment: dict[str, Any]) -> SegmentSummary:
    departure_at: datetime = segment["departure_at"]
    stored = segment.get("service_date")
    return SegmentSummary(
        flight_id=segment["flight_id"],
        flight_number=segment["flight_number"],
        origin=segment["origin"],
        destination=segment["destination"],
        departure_at=departure_at,
        # Documents stored before service dates were kept carry none: derive it.
        service_date=date.fromisoformat(stored) if stored else _service_date(segment),
    )


def _service_date(segment: dict[str, Any]) -> date:
    return to_local(segment["departure_at"], segment["origin"]).date()


def _summary(document: dict[str, Any]) -> BookingSummary:
    return BookingSummary(
        id=document["_id"],
        pnr=document["pnr"],
        user_id=document["user_id"],
        status=cast(BookingStatus, document["status"]),
        cabin=document["cabin"],
        passengers=int(document["passengers"]),
        total_price=Money(**document["total_price"]),
        segments=tuple(_segment(s) for s in document["segments"]),
        created_at=document["created_at"],
        cancelled_at=document.get("cancelled_at"),
        cancellation_reason=document.get("cancellation_reason"),
        expired_at=document.get("expired_at"),
    )


async def list_summaries(
    collection: BookingCollection,
    query: BookingListQuery,
    *,
    limit: int,
    after: tuple[datetime, str] | None = None,
) -> list[BookingSummary]:
    with store_errors():
        cursor = await collection.aggregate(summaries_pipeline(query, limit=limit, after=after))
        return [_summary(document) async for document in cursor]


def _group_id(group_by: GroupBy | None) -> Any:
    """The $group `_id` of a grouping, written so `group_key` reads it like SQL's."""
    if group_by is None:
        return None
    service_date = "$first.service_date"
    if group_by == "day":
        return [service_date]
    if group_by == "month":
        return [{"$concat": [{"$substrCP": [service_date, 0, 7]}, "-01"]}]
    if group_by == "week":
        day = {"$dateFromString": {"dateString": service_date, "format": "%Y-%m-%d"}}
        back = {"$multiply": [{"$subtract": [{"$isoDayOfWeek": day}, 1]}, DAY_MS]}
        monday = {"$subtract": [day, back]}
        return [{"$dateToString": {"format": "%Y-%m-%d", "date": monday}}]
    if group_by == "route":
        return ["$first.origin", "$first.destination"]
    if group_by == "flight":
        return ["$first.flight_number"]
    return ["$cabin"]


def _counted_when(condition: dict[str, Any]) -> dict[str, Any]:
    return {"$sum": {"$cond": [condition, 1, 0]}}


def _cancelled_for(reason: str) -> dict[str, Any]:
    return {"$and": [{"$eq": ["$status", CANCELLED]}, {"$eq": ["$cancellation_reason", reason]}]}


def cancellations_pipeline(period: ReportPeriod, group_by: GroupBy | None) -> list[dict[str, Any]]:
    """Ended bookings per outcome and group, each counted on its first flight (as the SQL
    store counts them)."""
    in_period = {"$gte": period.date_from.isoformat(), "$lte": period.date_to.isoformat()}
    categories = {
        "by_airline": _cancelled_for(FLIGHT_CANCELLED_REASON),
        "by_staff": _cancelled_for(STAFF_CANCELLED_REASON),
        "by_passenger": _cancelled_for(PASSENGER_CANCELLED_REASON),
        "expired": {"$eq": ["$status", EXPIRED]},
    }
    first = {"$arrayElemAt": ["$segments", 0]}
    return [
        {"$match": {"status": {"$in": [CANCELLED, EXPIRED]}, "segments.service_date": in_period}},
        {"$project": {"status": 1, "cancellation_reason": 1, "cabin": 1, "first": first}},
        {"$match": {"first.service_date": in_period}},
        {
            "$group": {
                "_id": _group_id(group_by),
                **{name: _counted_when(condition) for name, condition in categories.items()},
            }
        },
    ]


async def cancellations(
    collection: BookingCollection, period: ReportPeriod, group_by: GroupBy | None
) -> list[CancellationAggregate]:
    with store_errors():
        cursor = await collection.aggregate(cancellations_pipeline(period, group_by))
        documents = [document async for document in cursor]
    aggregates = [
        CancellationAggregate(
            key=group_key(group_by, document["_id"] or ()),
            by_airline=int(document["by_airline"]),
            by_staff=int(document["by_staff"]),
            by_passenger=int(document["by_passenger"]),
            expired=int(document["expired"]),
        )
        for document in documents
    ]
    if group_by is None and not aggregates:  # like SQL: the totals row is always there
        aggregates.append(CancellationAggregate(group_key(None, ()), 0, 0, 0, 0))
    return aggregates
