"""The MongoDB booking store: one document per booking, passengers and segments nested.

Each write commits on its own (see the consistency notes in `repository`). Status changes are
one conditional `find_one_and_update` each (`{_id, status: from, …}`), so of several
concurrent callers exactly one changes the document. A cancellation or expiry leaves
`seats_released_at` unset and stamps `release_pending_since` (sparse-indexed) until the
seats' release is known to have committed: that is what the sweeper's repair pass reads.

Passport numbers and dates of birth are stored encrypted with the platform keyring, as in the
SQL store. Instants are BSON dates: UTC, millisecond precision.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import date, datetime
from typing import Any, cast

from pymongo import ASCENDING, DESCENDING, ReturnDocument
from pymongo.errors import ConnectionFailure, DuplicateKeyError, PyMongoError
from sqlalchemy.ext.asyncio import AsyncSession

from flightdeck.bookings.errors import BookingStoreUnavailable
from flightdeck.bookings.mongo_client import BookingCollection, BookingDocument
from flightdeck.bookings.records import (
    ACTIVE_STATUSES,
    CANCELLED,
    CONFIRMED,
    EXPIRED,
    PENDING_PAYMENT,
    BookingCursor,
    BookingRecord,
    BookingStatus,
    PassengerRecord,
    SegmentRecord,
)
from flightdeck.bookings.repository import PnrTaken
from flightdeck.platform.events.outbox import RecordedEvent, write_event
from flightdeck.platform.money import Money
from flightdeck.platform.security.encryption import keyring

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
# Retry-After for a 503: pymongo gives up on an unreachable server within seconds.
RETRY_AFTER_SECONDS = "5"


# --- documents ---------------------------------------------------------------------------


def _money(value: Money | None) -> dict[str, Any] | None:
    return None if value is None else {"amount": value.amount, "currency": value.currency}


def _to_document(booking: BookingRecord) -> BookingDocument:
    ring = keyring()
    return {
        "_id": booking.id,
        "schema_version": SCHEMA_VERSION,
        "pnr": booking.pnr,
        "user_id": booking.user_id,
        "status": booking.status,
        "cabin": booking.cabin,
        "total_price": _money(booking.total_price),
        "hold_expires_at": booking.hold_expires_at,
        "segments": [
            {
                "flight_id": s.flight_id,
                "flight_number": s.flight_number,
                "origin": s.origin,
                "destination": s.destination,
                "departure_at": s.departure_at,
                "arrival_at": s.arrival_at,
                "service_date": s.service_date.isoformat(),
                "fare": _money(s.fare),
                "seats": list(s.seats),
            }
            for s in booking.segments
        ],
        "passengers": [
            {
                "first_name": p.first_name,
                "last_name": p.last_name,
                # Personal data: encrypted at rest (AES-256-GCM, key id in the stored value).
                "date_of_birth": ring.encrypt(p.date_of_birth.isoformat()),
                "passport_number": (
                    None if p.passport_number is None else ring.encrypt(p.passport_number)
                ),
            }
            for p in booking.passengers
        ],
        "created_at": booking.created_at,
        "updated_at": booking.updated_at,
        "payment_id": booking.payment_id,
        "confirmed_at": booking.confirmed_at,
        "cancelled_at": booking.cancelled_at,
        "cancellation_reason": booking.cancellation_reason,
        "refund_amount": _money(booking.refund_amount),
        "expired_at": booking.expired_at,
        "seats_released_at": booking.seats_released_at,
    }


def _to_record(document: Mapping[str, Any]) -> BookingRecord:
    ring = keyring()
    refund = document.get("refund_amount")
    return BookingRecord(
        id=document["_id"],
        pnr=document["pnr"],
        user_id=document["user_id"],
        status=cast(BookingStatus, document["status"]),
        cabin=document["cabin"],
        total_price=Money(**document["total_price"]),
        hold_expires_at=document["hold_expires_at"],
        segments=tuple(
            SegmentRecord(
                flight_id=s["flight_id"],
                flight_number=s["flight_number"],
                origin=s["origin"],
                destination=s["destination"],
                departure_at=s["departure_at"],
                arrival_at=s["arrival_at"],
                fare=Money(**s["fare"]),
                seats=tuple(s["seats"]),
            )
            for s in document["segments"]
        ),
        passengers=tuple(
            PassengerRecord(
                first_name=p["first_name"],
                last_name=p["last_name"],
                date_of_birth=date.fromisoformat(ring.decrypt(p["date_of_birth"])),
                passport_number=(
                    None if p.get("passport_number") is None else ring.decrypt(p["passport_number"])
                ),
            )
            for p in document["passengers"]
        ),
        created_at=document["created_at"],
        updated_at=document["updated_at"],
        payment_id=document.get("payment_id"),
        confirmed_at=document.get("confirmed_at"),
        cancelled_at=document.get("cancelled_at"),
        cancellation_reason=document.get("cancellation_reason"),
        refund_amount=None if refund is None else Money(**refund),
        expired_at=document.get("expired_at"),
        seats_released_at=document.get("seats_released_at"),
    )


@contextmanager
def _store_errors() -> Iterator[None]:
    """An unreachable or timed-out store is a 503 (the request's SQL work rolls back); any
    other driver error is a bug and propagates."""
    try:
        yield
    except PyMongoError as exc:
        if isinstance(exc, ConnectionFailure) or exc.timeout:
            log.warning("bookings store unavailable: %s", exc)
            raise BookingStoreUnavailable(headers={"Retry-After": RETRY_AFTER_SECONDS}) from exc
        raise


# The same translation of driver errors for the store's other readers (reports).
store_errors = _store_errors


# --- the store ---------------------------------------------------------------------------


class MongoBookingRepository:
    """`BookingRepository` on the MongoDB `bookings` collection."""

    def __init__(self, collection: BookingCollection, outbox: AsyncSession) -> None:
        self.collection = collection
        # The request's SQL session: events go to the outbox in its transaction.
        self.outbox = outbox

    async def add(self, booking: BookingRecord, event: RecordedEvent) -> None:
        with _store_errors():
            try:
                await self.collection.insert_one(_to_document(booking))
            except DuplicateKeyError as exc:
                if not await self._already_added(booking):
                    if "pnr" in ((exc.details or {}).get("keyPattern") or {}):
                        raise PnrTaken(booking.pnr) from exc
                    raise
        await write_event(self.outbox, event)

    async def _already_added(self, booking: BookingRecord) -> bool:
        # Ids are fresh per booking, so a document with this id and PNR is this very insert,
        # retried by the driver after its reply was lost.
        stored = await self.collection.find_one({"_id": booking.id}, {"pnr": 1})
        return stored is not None and stored["pnr"] == booking.pnr

    async def get(self, booking_id: str) -> BookingRecord | None:
        return await self._one({"_id": booking_id})

    async def get_by_pnr(self, pnr: str) -> BookingRecord | None:
        return await self._one({"pnr": pnr})

    async def list_for_user(
        self, user_id: str, *, limit: int, after: BookingCursor | None = None
    ) -> list[BookingRecord]:
        query: dict[str, Any] = {"user_id": user_id}
        if after is not None:
            query["$or"] = [
                {"created_at": {"$lt": after.created_at}},
                {"created_at": after.created_at, "_id": {"$lt": after.id}},
            ]
        return await self._many(
            query, [("created_at", DESCENDING), ("_id", DESCENDING)], limit=limit
        )

    async def confirm(
        self, booking_id: str, *, payment_id: str, at: datetime
    ) -> BookingRecord | None:
        return await self._transition(
            {"_id": booking_id, "status": PENDING_PAYMENT, "hold_expires_at": {"$gt": at}},
            {"status": CONFIRMED, "payment_id": payment_id, "confirmed_at": at, "updated_at": at},
        )

    async def cancel(
        self,
        booking_id: str,
        *,
        from_status: BookingStatus,
        at: datetime,
        reason: str | None,
        refund: Money | None,
    ) -> BookingRecord | None:
        if from_status not in ACTIVE_STATUSES:
            return None
        return await self._transition(
            {"_id": booking_id, "status": from_status},
            {
                "status": CANCELLED,
                "cancelled_at": at,
                "cancellation_reason": reason,
                "refund_amount": _money(refund),
                "release_pending_since": at,
                "updated_at": at,
            },
        )

    async def expire(self, booking_id: str, *, at: datetime) -> BookingRecord | None:
        return await self._transition(
            {"_id": booking_id, "status": PENDING_PAYMENT, "hold_expires_at": {"$lte": at}},
            {"status": EXPIRED, "expired_at": at, "release_pending_since": at, "updated_at": at},
        )

    async def list_expired_holds(self, now: datetime, *, limit: int) -> list[BookingRecord]:
        return await self._many(
            {"status": PENDING_PAYMENT, "hold_expires_at": {"$lte": now}},
            [("hold_expires_at", ASCENDING), ("_id", ASCENDING)],
            limit=limit,
        )

    async def list_active_on_flight(self, flight_id: str) -> list[BookingRecord]:
        return await self._many(
            {"segments.flight_id": flight_id, "status": {"$in": sorted(ACTIVE_STATUSES)}},
            [("created_at", ASCENDING), ("_id", ASCENDING)],
        )

    async def list_active_for_user(self, user_id: str) -> list[BookingRecord]:
        return await self._many(
            {"user_id": user_id, "status": {"$in": sorted(ACTIVE_STATUSES)}},
            [("created_at", ASCENDING), ("_id", ASCENDING)],
        )

    async def list_unreleased(self, *, before: datetime, limit: int) -> list[BookingRecord]:
        return await self._many(
            {"release_pending_since": {"$lte": before}},
            [("release_pending_since", ASCENDING), ("_id", ASCENDING)],
            limit=limit,
        )

    async def mark_seats_released(self, booking_id: str, *, at: datetime) -> None:
        with _store_errors():
            await self.collection.update_one(
                {"_id": booking_id, "seats_released_at": None},
                {"$set": {"seats_released_at": at}, "$unset": {"release_pending_since": ""}},
            )

    async def _transition(
        self, condition: dict[str, Any], values: dict[str, Any]
    ) -> BookingRecord | None:
        with _store_errors():
            document = await self.collection.find_one_and_update(
                condition, {"$set": values}, return_document=ReturnDocument.AFTER
            )
        return None if document is None else _to_record(document)

    async def _one(self, query: dict[str, Any]) -> BookingRecord | None:
        with _store_errors():
            document = await self.collection.find_one(query)
        return None if document is None else _to_record(document)

    async def _many(
        self, query: dict[str, Any], sort: list[tuple[str, int]], *, limit: int = 0
    ) -> list[BookingRecord]:
        with _store_errors():
            documents = await self.collection.find(query, sort=sort, limit=limit).to_list()
        return [_to_record(document) for document in documents]
