"""payment recovery: refunds made by a worker (payment_refunds), the attempt's Idempotency-Key
and an index for the reconciler of attempts left processing

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-26 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import flightdeck.platform.db

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "payment_refunds",
        sa.Column("payment_id", sa.String(length=36), nullable=False),
        sa.Column("amount", sa.Integer(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("reason", sa.String(length=40), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column(
            "next_attempt_at", flightdeck.platform.db.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column("gateway_refund_id", sa.String(length=100), nullable=True),
        sa.Column("last_error", sa.String(length=200), nullable=True),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("created_at", flightdeck.platform.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", flightdeck.platform.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payment_refunds")),
    )
    with op.batch_alter_table("payment_refunds", schema=None) as batch_op:
        batch_op.create_index("ix_payment_refunds_due", ["status", "next_attempt_at"], unique=False)
        batch_op.create_index("ix_payment_refunds_payment_id", ["payment_id"], unique=False)
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.add_column(sa.Column("idempotency_key", sa.String(length=255), nullable=True))
        batch_op.create_index(
            "ix_payments_status_updated_at", ["status", "updated_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.drop_index("ix_payments_status_updated_at")
        batch_op.drop_column("idempotency_key")
    with op.batch_alter_table("payment_refunds", schema=None) as batch_op:
        batch_op.drop_index("ix_payment_refunds_payment_id")
        batch_op.drop_index("ix_payment_refunds_due")
    op.drop_table("payment_refunds")
