"""The SQL store's writes of a new booking: its rows' values, and on PostgreSQL the one
statement that writes them all with the PNR's claim and the booking's event (on SQLite five
statements, in one trip to the driver)."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import Any

from sqlalchemy import (
    Column,
    ColumnElement,
    Select,
    String,
    Table,
    bindparam,
    insert,
    select,
    union_all,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError

from flightdeck.bookings.models import (
    Booking,
    BookingPassenger,
    BookingReference,
    BookingSegment,
)
from flightdeck.bookings.records import BookingRecord
from flightdeck.flights.inventory.service import one_statement_hold
from flightdeck.platform.compiled_reads import CompiledBatch, CompiledWrite
from flightdeck.platform.db import new_id, unique_violation
from flightdeck.platform.events.outbox import OUTBOX_TABLE
from flightdeck.platform.idempotency import IDEMPOTENCY_KEYS

Values = dict[str, Any]
_BOOKINGS: Table = Booking.__table__  # type: ignore[assignment]
_SEGMENTS: Table = BookingSegment.__table__  # type: ignore[assignment]
_PASSENGERS: Table = BookingPassenger.__table__  # type: ignore[assignment]
_REFERENCES: Table = BookingReference.__table__  # type: ignore[assignment]


def booking_rows(record: BookingRecord) -> tuple[Values, list[Values], list[Values]]:
    """The booking's row, its segments' rows and its passengers' rows, as column values."""
    booking = {
        "id": record.id,
        "pnr": record.pnr,
        "user_id": record.user_id,
        "status": record.status,
        "cabin": record.cabin,
        "total_amount": record.total_price.amount,
        "currency": record.total_price.currency,
        "hold_expires_at": record.hold_expires_at,
        "payment_id": None,
        "confirmed_at": None,
        "cancelled_at": None,
        "cancellation_reason": None,
        "refund_amount": None,
        "expired_at": None,
        "seats_released_at": None,
        "created_at": record.created_at,
        "updated_at": record.updated_at,
    }
    segments = [
        {
            "id": new_id(),
            "booking_id": record.id,
            "position": position,
            "flight_id": s.flight_id,
            "flight_number": s.flight_number,
            "origin": s.origin,
            "destination": s.destination,
            "departure_at": s.departure_at,
            "arrival_at": s.arrival_at,
            "service_date": s.service_date,
            "fare_amount": s.fare.amount,
            "fare_currency": s.fare.currency,
            "seats": list(s.seats),
            "outcome": None,
        }
        for position, s in enumerate(record.segments)
    ]
    passengers = [
        {
            "id": new_id(),
            "booking_id": record.id,
            "position": position,
            "first_name": p.first_name,
            "last_name": p.last_name,
            "date_of_birth": p.date_of_birth.isoformat(),
            "passport_number": p.passport_number,
        }
        for position, p in enumerate(record.passengers)
    ]
    return booking, segments, passengers


# The outbox's columns an event's row gives (`seq` is the database's).
_EVENT_COLUMNS = [c for c in OUTBOX_TABLE.columns if c.name != "seq"]


def _insert_bound(table: Table, columns: Sequence[Column[Any]]) -> Any:
    """INSERT of one row of `table` from values bound by column name (typed as the columns)."""
    return insert(table).values({c.name: bindparam(c.name, type_=c.type) for c in columns})


# SQLite: the same five writes, statements of their own (it has no data-modifying CTEs), in
# one trip to its connection's thread; a taken PNR writes nothing and stops them.
ADD_SQLITE = CompiledBatch(
    sqlite.insert(_REFERENCES)
    .values(pnr=bindparam("pnr", type_=String), booking_id=bindparam("booking_id", type_=String))
    .on_conflict_do_nothing(index_elements=["pnr"]),
    _insert_bound(_BOOKINGS, list(_BOOKINGS.columns)),
    _insert_bound(_SEGMENTS, list(_SEGMENTS.columns)),
    _insert_bound(_PASSENGERS, list(_PASSENGERS.columns)),
    _insert_bound(OUTBOX_TABLE, _EVENT_COLUMNS),
    claims=True,
)


def _bound_row(
    columns: Sequence[Column[Any]], prefix: str, *, booking: ColumnElement[Any] | None = None
) -> Select[Any]:
    """SELECT of one row from bound values named `<prefix><column>` (typed as the columns,
    so PII is encrypted as in any INSERT), the booking's id taken from `booking` if given."""
    return select(
        *(
            booking.label(column.name)
            if booking is not None and column.name == "booking_id"
            else bindparam(prefix + column.name, type_=column.type).label(column.name)
            for column in columns
        )
    )


def _insert_rows(table: Table, rows: Sequence[Select[Any]], name: str) -> Any:
    """INSERT into `table` (every column) of the rows, as a CTE named `name`."""
    selected = rows[0] if len(rows) == 1 else union_all(*rows)
    return insert(table).from_select([c.name for c in table.columns], selected).cte(name)


def _booking_ctes(claim: Any, segments: int, passengers: int) -> list[Any]:
    """The booking's row selected from its PNR's `claim`, then its segments', its
    passengers' and its event's rows selected from the booking's: each written only if the
    one before it was."""
    booking = (
        insert(_BOOKINGS)
        .from_select(
            [c.name for c in _BOOKINGS.columns],
            _bound_row(list(_BOOKINGS.columns), "b_").select_from(claim),
        )
        .returning(_BOOKINGS.c.id)
        .cte("booking")
    )

    def rows_of(table: Table, prefix: str, count: int) -> Any:
        columns = list(table.columns)
        rows = [
            _bound_row(columns, f"{prefix}{i}_", booking=booking.c.id).select_from(booking)
            for i in range(count)
        ]
        return _insert_rows(table, rows, f"{table.name}_rows")

    event = (
        insert(OUTBOX_TABLE)
        .from_select(
            [c.name for c in _EVENT_COLUMNS],
            _bound_row(_EVENT_COLUMNS, "e_").select_from(booking),
        )
        .cte("event")
    )
    return [
        booking,
        rows_of(_SEGMENTS, "s", segments),
        rows_of(_PASSENGERS, "p", passengers),
        event,
    ]


@cache
def add_statement_postgresql(segments: int, passengers: int) -> CompiledWrite:
    """PostgreSQL: the PNR's claim, the booking, its segments, its passengers and its outbox
    event in one statement (data-modifying CTEs): one round trip instead of five. The claim
    skips a taken PNR, and every other row is selected from what the one before it wrote, so
    a taken PNR writes nothing; the answer is the claim's booking id (no row: taken). One
    statement per count of segments and passengers, built and compiled once; it runs on the
    driver, after the hold's statements began the transaction (platform/compiled_reads)."""
    claim = (
        postgresql.insert(_REFERENCES)
        .values(pnr=bindparam("b_pnr", type_=String), booking_id=bindparam("b_id", type_=String))
        .on_conflict_do_nothing(index_elements=["pnr"])
        .returning(_REFERENCES.c.booking_id)
        .cte("claimed")
    )
    return CompiledWrite(
        select(claim.c.booking_id).add_cte(*_booking_ctes(claim, segments, passengers))
    )


@cache
def hold_and_add_statement_postgresql(passengers: int, *, keyed: bool) -> CompiledWrite:
    """PostgreSQL: the seats of a booking of one flight held and the booking written, in one
    statement, on condition that the flight is as it was read (flights/inventory/
    hold_statement.py, whose answer it gives). The PNR's claim is selected from the seats
    taken and everything else from it, as in `add_statement_postgresql`; a taken PNR is not
    skipped but meets the PNR's key, which aborts the whole statement (`pnr_taken`).
    `keyed`: the request's Idempotency-Key claimed with its response too, selected from the
    booking written (bound values `k_<column>`); a key with a row already meets the keys'
    unique index, which aborts the statement as well (platform/idempotency.py)."""

    def writes(taken: Any) -> list[Any]:
        claim = (
            insert(_REFERENCES)
            .from_select(
                ["pnr", "booking_id"],
                select(
                    bindparam("b_pnr", type_=String), bindparam("b_id", type_=String)
                ).select_from(taken),
            )
            .returning(_REFERENCES.c.booking_id)
            .cte("claimed")
        )
        ctes = [claim, *_booking_ctes(claim, 1, passengers)]
        if keyed:
            key = _bound_row(list(IDEMPOTENCY_KEYS.columns), "k_").select_from(ctes[1])
            ctes.append(_insert_rows(IDEMPOTENCY_KEYS, [key], "key_claimed"))
        return ctes

    return CompiledWrite(one_statement_hold(writes))


def pnr_taken(error: DBAPIError) -> bool:
    """Whether the driver's error is the PNR's key refusing a PNR another booking has."""
    return unique_violation(error, str(_REFERENCES.primary_key.name))


def add_parameters(
    row: Values,
    segments: list[Values],
    passengers: list[Values],
    event: Values,
    key: Values | None = None,
) -> Values:
    """The bound values of `add_statement_postgresql` (and the key's row of a keyed
    `hold_and_add_statement_postgresql`), by their prefixed names."""
    parameters = {f"b_{name}": value for name, value in row.items()}
    if key is not None:
        parameters.update((f"k_{name}", value) for name, value in key.items())
    for i, segment in enumerate(segments):
        parameters.update((f"s{i}_{name}", value) for name, value in segment.items())
    for i, passenger in enumerate(passengers):
        parameters.update((f"p{i}_{name}", value) for name, value in passenger.items())
    parameters.update((f"e_{name}", value) for name, value in event.items())
    return parameters


def one_or_many(rows: list[Values]) -> Values | list[Values]:
    """One row as one execution (an executemany of one costs more than it saves)."""
    return rows[0] if len(rows) == 1 else rows
