"""hardening: 64-bit money columns on PostgreSQL, keyed digests of idempotent request bodies

Money columns were INTEGER, which PostgreSQL keeps in 32 bits (21 million in major units, less
than one business fare in Indonesian rupiah); SQLite's INTEGER is 64-bit already. The
idempotency table's body digest becomes `h1:<kid>:<hmac hex>` (platform/security/digests.py),
longer than the plain SHA-256 it replaces; plain digests already stored still verify until
they expire (24 h).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 12:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MONEY_COLUMNS = (
    ("flight_cabins", "fare_amount", False),
    ("bookings", "total_amount", False),
    ("bookings", "refund_amount", True),
    ("booking_segments", "fare_amount", False),
    ("payments", "amount", False),
    ("payments", "refunded_amount", False),
    ("payment_refunds", "amount", False),
)


def _money_columns(to_type: sa.types.TypeEngine[int], from_type: sa.types.TypeEngine[int]) -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, column, nullable in MONEY_COLUMNS:
        op.alter_column(
            table, column, type_=to_type, existing_type=from_type, existing_nullable=nullable
        )


def upgrade() -> None:
    _money_columns(sa.BigInteger(), sa.Integer())
    with op.batch_alter_table("idempotency_keys") as batch:
        batch.alter_column(
            "request_hash",
            type_=sa.String(length=100),
            existing_type=sa.String(length=64),
            existing_nullable=False,
        )


def downgrade() -> None:
    # Keyed digests do not fit 64 characters: the replays they guard cannot be kept.
    op.execute("DELETE FROM idempotency_keys")
    with op.batch_alter_table("idempotency_keys") as batch:
        batch.alter_column(
            "request_hash",
            type_=sa.String(length=64),
            existing_type=sa.String(length=100),
            existing_nullable=False,
        )
    _money_columns(sa.Integer(), sa.BigInteger())
