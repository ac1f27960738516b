"""event delivery: processed_events markers; outbox relay order, errors and dead rows

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24 07:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import flightdeck.platform.db

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SEQUENCE = "outbox_events_seq_seq"


def upgrade() -> None:
    op.create_table(
        "processed_events",
        sa.Column("consumer", sa.String(length=64), nullable=False),
        sa.Column("event_id", sa.String(length=64), nullable=False),
        sa.Column(
            "processed_at", flightdeck.platform.db.UTCDateTime(timezone=True), nullable=False
        ),
        sa.PrimaryKeyConstraint("consumer", "event_id", name=op.f("pk_processed_events")),
    )
    with op.batch_alter_table("processed_events", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_processed_events_processed_at"), ["processed_at"], unique=False
        )

    # The relay publishes in insertion order: a sequence on PostgreSQL (existing rows get
    # numbers in the order the sequence reaches them); SQLite orders by rowid and leaves it NULL.
    postgres = op.get_bind().dialect.name == "postgresql"
    seq_default = None
    if postgres:
        op.execute(sa.text(f"CREATE SEQUENCE {SEQUENCE}"))
        seq_default = sa.text(f"nextval('{SEQUENCE}')")
    with op.batch_alter_table("outbox_events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("seq", sa.BigInteger(), server_default=seq_default))
        batch_op.add_column(sa.Column("last_error", sa.String(length=500), nullable=True))
        batch_op.add_column(
            sa.Column("failed_at", flightdeck.platform.db.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.create_index("ix_outbox_events_pending_seq", ["published_at", "seq"])
    if postgres:
        op.execute(sa.text(f"ALTER SEQUENCE {SEQUENCE} OWNED BY outbox_events.seq"))


def downgrade() -> None:
    with op.batch_alter_table("outbox_events", schema=None) as batch_op:
        batch_op.drop_index("ix_outbox_events_pending_seq")
        batch_op.drop_column("failed_at")
        batch_op.drop_column("last_error")
        batch_op.drop_column("seq")
    if op.get_bind().dialect.name == "postgresql":
        op.execute(sa.text(f"DROP SEQUENCE IF EXISTS {SEQUENCE}"))

    with op.batch_alter_table("processed_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_processed_events_processed_at"))
    op.drop_table("processed_events")
