"""How every table is laid out when one PostgreSQL is not enough: the one place that says it.

DISTRIBUTION is the Citus (distributed PostgreSQL) plan, docs/SCALING.md explains it:
- `Reference()`: small, read everywhere, rarely written; copied to every node, so any query
  joins it locally (airports are reference data in code, on every node by construction).
- `Distributed(column, group)`: rows spread over the nodes by the hash of `column`; tables of
  one `group` share their distribution column's values (a flight's id, a booking's id, …), so
  Citus co-locates their rows for one value on one node and a query or transaction about one
  flight or one booking stays on that node.

Citus enforces uniqueness node by node, so every primary key and unique constraint of a
distributed table must include its distribution column; tests/architecture/test_data_layout.py
reads the live schema of both databases and fails where one does not, and where a table is not
declared here. A uniqueness across all rows that cannot include it lives in a lookup table
distributed by the unique value itself (`booking_references`, by PNR).

PARTITIONS are the tables that only grow, range-partitioned by month on PostgreSQL (plain
tables on SQLite) by `key`, a column of every primary key. `flightdeck partitions` creates the
months ahead and drops those older than the table's retention (a setting; 0 keeps them all),
never a month holding a row `keep_while` says is still needed.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Reference:
    """A table copied to every node."""


@dataclass(frozen=True)
class Distributed:
    """A table spread over the nodes by `column`, co-located with the tables of `group`."""

    column: str
    group: str


Layout = Reference | Distributed

FLIGHT = "flight"  # a dated flight's id: its seats, holds, counters and status history
BOOKING = "booking"  # a booking's id: its segments, passengers and payments
USER = "user"  # a user's id: their inbox

DISTRIBUTION: dict[str, Layout] = {
    # Reference: read by every search and every request's identity; written rarely.
    "schedules": Reference(),
    "flights": Reference(),
    "users": Reference(),
    # One flight's inventory and history on one node: a hold is a single-node transaction.
    "flight_cabins": Distributed("flight_id", FLIGHT),
    "seat_assignments": Distributed("flight_id", FLIGHT),
    "inventory_holds": Distributed("flight_id", FLIGHT),
    "flight_status_changes": Distributed("flight_id", FLIGHT),
    # One booking, its passengers, segments and payments on one node.
    "bookings": Distributed("id", BOOKING),
    "booking_passengers": Distributed("booking_id", BOOKING),
    "booking_segments": Distributed("booking_id", BOOKING),
    "payments": Distributed("booking_id", BOOKING),
    # What a payment pays for (revenue reports), with the payment's refunds.
    "payment_segments": Distributed("payment_id", "payment"),
    # Look-ups by a value no other table is distributed by.
    "booking_references": Distributed("pnr", "pnr"),
    "payment_refunds": Distributed("payment_id", "payment"),
    "refresh_tokens": Distributed("token_hash", "refresh_token"),
    "idempotency_keys": Distributed("scope", "idempotency_scope"),
    "payment_webhook_events": Distributed("event_id", "webhook_event"),
    # A user's inbox on one node.
    "notifications": Distributed("user_id", USER),
    # Events: written with the change they announce, read by the relay; consumers' markers.
    "outbox_events": Distributed("id", "outbox_event"),
    "processed_events": Distributed("event_id", "processed_event"),
    # Append-only; read by admin (by actor, entity, action, time: every shard in parallel).
    "audit_log": Distributed("id", "audit_log"),
}


@dataclass(frozen=True)
class Partitioned:
    """A table range-partitioned by month on `key` (PostgreSQL). Its retention setting
    (`retention_<retention>_days`) says how long a month is kept; a month is dropped only
    when none of its rows matches `keep_while` (SQL; None: any row may go)."""

    table: str
    key: str
    retention: str
    keep_while: str | None = None


PARTITIONS: tuple[Partitioned, ...] = (
    # An event not yet published (or dead, awaiting an operator) is never dropped.
    Partitioned("outbox_events", "created_at", "outbox", keep_while="published_at IS NULL"),
    Partitioned("processed_events", "event_occurred_at", "processed_events"),
    Partitioned("flight_status_changes", "changed_at", "status_history"),
    Partitioned("audit_log", "occurred_at", "audit_log"),
)
