"""data layout for scale-out (flightdeck/data_layout.py): every primary key holds its table's
distribution column; a PNR's uniqueness moves to booking_references (keyed by PNR); processed
events keep the event's own time; on PostgreSQL the outbox, the processed events, the status
history and the audit log are partitioned by month (with a default partition; `flightdeck partitions` keeps the
months ahead and drops expired ones)

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01 15:00:00.000000
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

import flightdeck.platform.db
from flightdeck.platform.partitions import partition_table, unpartition_table

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# table → (primary key before, primary key after): the distribution column joins the id.
PRIMARY_KEYS: dict[str, tuple[list[str], list[str]]] = {
    "flight_cabins": (["id"], ["flight_id", "id"]),
    "seat_assignments": (["id"], ["flight_id", "id"]),
    "inventory_holds": (["id"], ["flight_id", "id"]),
    "booking_passengers": (["id"], ["booking_id", "id"]),
    "booking_segments": (["id"], ["booking_id", "id"]),
    "payments": (["id"], ["booking_id", "id"]),
    "payment_refunds": (["id"], ["payment_id", "id"]),
    "payment_webhook_events": (["id"], ["event_id", "id"]),
    "notifications": (["id"], ["user_id", "id"]),
    "refresh_tokens": (["id"], ["token_hash", "id"]),
    "idempotency_keys": (["id"], ["scope", "id"]),
    "payment_segments": (["id"], ["payment_id", "id"]),
}
# table → (partition key, primary key before, primary key after).
PARTITIONED: dict[str, tuple[str, list[str], list[str]]] = {
    "outbox_events": ("created_at", ["id"], ["created_at", "id"]),
    "processed_events": (
        "event_occurred_at",
        ["consumer", "event_id"],
        ["consumer", "event_id", "event_occurred_at"],
    ),
    "flight_status_changes": ("changed_at", ["id"], ["flight_id", "changed_at", "id"]),
    "audit_log": ("occurred_at", ["id"], ["occurred_at", "id"]),
}


def _postgres() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def _set_primary_key(table: str, columns: list[str]) -> None:
    with op.batch_alter_table(table, schema=None) as batch_op:
        batch_op.drop_constraint(f"pk_{table}", type_="primary")
        batch_op.create_primary_key(f"pk_{table}", columns)


def upgrade() -> None:
    _booking_references()
    with op.batch_alter_table("processed_events", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "event_occurred_at",
                flightdeck.platform.db.UTCDateTime(timezone=True),
                nullable=True,
            )
        )
    # Markers written before: their event's time is unknown; when they were handled will do.
    op.execute("UPDATE processed_events SET event_occurred_at = processed_at")
    with op.batch_alter_table("processed_events", schema=None) as batch_op:
        batch_op.alter_column(
            "event_occurred_at",
            existing_type=flightdeck.platform.db.UTCDateTime(timezone=True),
            nullable=False,
        )
    op.drop_index("ix_flight_status_changes_flight", table_name="flight_status_changes")
    for table, (_, after) in PRIMARY_KEYS.items():
        _set_primary_key(table, after)
    now = datetime.now(UTC)
    for table, (key, _, after) in PARTITIONED.items():
        if _postgres():
            partition_table(op.get_bind(), table, key, after, now=now)
        else:
            _set_primary_key(table, after)
    _check_foreign_keys()


def _booking_references() -> None:
    op.create_table(
        "booking_references",
        sa.Column("pnr", sa.String(length=6), nullable=False),
        sa.Column("booking_id", sa.String(length=36), nullable=False),
        sa.PrimaryKeyConstraint("pnr", name=op.f("pk_booking_references")),
    )
    op.execute("INSERT INTO booking_references (pnr, booking_id) SELECT pnr, id FROM bookings")
    with op.batch_alter_table("bookings", schema=None) as batch_op:
        batch_op.drop_constraint("uq_bookings_pnr", type_="unique")
        batch_op.create_index(batch_op.f("ix_bookings_pnr"), ["pnr"], unique=False)


def downgrade() -> None:
    # Two handlings of one event in different months would collide again: keep one.
    if _postgres():
        op.execute(
            "DELETE FROM processed_events a USING processed_events b WHERE a.consumer = "
            "b.consumer AND a.event_id = b.event_id AND a.event_occurred_at > b.event_occurred_at"
        )
    for table, (_, before, _) in PARTITIONED.items():
        if _postgres():
            unpartition_table(op.get_bind(), table, before)
        else:
            _set_primary_key(table, before)
    for table, (before, _) in PRIMARY_KEYS.items():
        _set_primary_key(table, before)
    op.create_index(
        "ix_flight_status_changes_flight", "flight_status_changes", ["flight_id", "changed_at"]
    )
    with op.batch_alter_table("processed_events", schema=None) as batch_op:
        batch_op.drop_column("event_occurred_at")
    with op.batch_alter_table("bookings", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_bookings_pnr"))
        batch_op.create_unique_constraint(batch_op.f("uq_bookings_pnr"), ["pnr"])
    op.drop_table("booking_references")
    _check_foreign_keys()


def _check_foreign_keys() -> None:
    """SQLite rebuilt a referenced table (bookings) with foreign keys off: nothing dangles."""
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        return
    problems = bind.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
    if problems:
        raise RuntimeError(f"foreign keys broken by the table rebuild: {problems[:5]}")
