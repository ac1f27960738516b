"""payments: payment attempts (card brand/last four/expiry only) and handled webhook events

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-24 08:09:36.192017
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import flightdeck.platform.db

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "payment_webhook_events",
        sa.Column("provider", sa.String(length=16), nullable=False),
        sa.Column("event_id", sa.String(length=255), nullable=False),
        sa.Column("event_type", sa.String(length=100), nullable=False),
        sa.Column("payment_id", sa.String(length=36), nullable=True),
        sa.Column("received_at", flightdeck.platform.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payment_webhook_events")),
        sa.UniqueConstraint(
            "provider", "event_id", name=op.f("uq_payment_webhook_events_provider_event_id")
        ),
    )
    op.create_table(
        "payments",
        sa.Column("booking_id", sa.String(length=36), nullable=False),
        sa.Column("user_id", sa.String(length=36), nullable=False),
        sa.Column("pnr", sa.String(length=6), nullable=False),
        sa.Column("amount", sa.Integer(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("status", sa.String(length=24), nullable=False),
        sa.Column("method_type", sa.String(length=16), nullable=False),
        sa.Column("wallet_provider", sa.String(length=16), nullable=True),
        sa.Column("brand", sa.String(length=16), nullable=True),
        sa.Column("last4", sa.String(length=4), nullable=True),
        sa.Column("exp_month", sa.Integer(), nullable=True),
        sa.Column("exp_year", sa.Integer(), nullable=True),
        sa.Column("failure_code", sa.String(length=40), nullable=True),
        sa.Column("gateway", sa.String(length=16), nullable=False),
        sa.Column("charge_id", sa.String(length=100), nullable=True),
        sa.Column("refunded_amount", sa.Integer(), nullable=False),
        sa.Column("refund_id", sa.String(length=100), nullable=True),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("created_at", flightdeck.platform.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", flightdeck.platform.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payments")),
    )
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.create_index("ix_payments_gateway_charge", ["gateway", "charge_id"], unique=False)
        batch_op.create_index("ix_payments_user_id", ["user_id"], unique=False)
        batch_op.create_index(
            "uq_payments_live_booking",
            ["booking_id"],
            unique=True,
            sqlite_where=sa.text("status <> 'failed'"),
            postgresql_where=sa.text("status <> 'failed'"),
        )


def downgrade() -> None:
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_payments_live_booking",
            sqlite_where=sa.text("status <> 'failed'"),
            postgresql_where=sa.text("status <> 'failed'"),
        )
        batch_op.drop_index("ix_payments_user_id")
        batch_op.drop_index("ix_payments_gateway_charge")

    op.drop_table("payments")
    op.drop_table("payment_webhook_events")
