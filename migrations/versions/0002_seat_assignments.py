"""seat assignments and per-booking inventory holds

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24 07:17:49.326934
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import flightdeck.platform.db

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "inventory_holds",
        sa.Column("booking_id", sa.String(length=36), nullable=False),
        sa.Column("flight_id", sa.String(length=36), nullable=False),
        sa.Column("cabin", sa.String(length=16), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("created_at", flightdeck.platform.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.CheckConstraint("quantity > 0", name=op.f("ck_inventory_holds_quantity_positive")),
        sa.ForeignKeyConstraint(
            ["flight_id"],
            ["flights.id"],
            name=op.f("fk_inventory_holds_flight_id_flights"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inventory_holds")),
        sa.UniqueConstraint(
            "booking_id", "flight_id", name=op.f("uq_inventory_holds_booking_id_flight_id")
        ),
    )
    with op.batch_alter_table("inventory_holds", schema=None) as batch_op:
        batch_op.create_index("ix_inventory_holds_created", ["created_at"], unique=False)

    op.create_table(
        "seat_assignments",
        sa.Column("flight_id", sa.String(length=36), nullable=False),
        sa.Column("seat", sa.String(length=4), nullable=False),
        sa.Column("cabin", sa.String(length=16), nullable=False),
        sa.Column("booking_id", sa.String(length=36), nullable=False),
        sa.Column("passenger_index", sa.Integer(), nullable=False),
        sa.Column("created_at", flightdeck.platform.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.ForeignKeyConstraint(
            ["flight_id"],
            ["flights.id"],
            name=op.f("fk_seat_assignments_flight_id_flights"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_seat_assignments")),
        sa.UniqueConstraint("flight_id", "seat", name=op.f("uq_seat_assignments_flight_id_seat")),
    )
    with op.batch_alter_table("seat_assignments", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_seat_assignments_booking_id"), ["booking_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("seat_assignments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_seat_assignments_booking_id"))

    op.drop_table("seat_assignments")
    with op.batch_alter_table("inventory_holds", schema=None) as batch_op:
        batch_op.drop_index("ix_inventory_holds_created")

    op.drop_table("inventory_holds")
