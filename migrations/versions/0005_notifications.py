"""notifications: the inbox with each notification's email delivery state

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-24 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import flightdeck.platform.db

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "notifications",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("user_id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("batch_id", sa.String(length=36), nullable=False),
        sa.Column("source_event_id", sa.String(length=64), nullable=True),
        sa.Column("created_at", flightdeck.platform.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("read_at", flightdeck.platform.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("email_state", sa.String(length=16), nullable=False),
        sa.Column("email_attempts", sa.Integer(), nullable=False),
        sa.Column(
            "email_claimed_at", flightdeck.platform.db.UTCDateTime(timezone=True), nullable=True
        ),
        sa.Column("emailed_at", flightdeck.platform.db.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notifications")),
    )
    op.create_index("ix_notifications_batch", "notifications", ["batch_id"], unique=False)
    op.create_index(
        "ix_notifications_user_created",
        "notifications",
        ["user_id", "created_at", "id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_notifications_user_created", table_name="notifications")
    op.drop_index("ix_notifications_batch", table_name="notifications")
    op.drop_table("notifications")
