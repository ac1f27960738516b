"""search indexes: flights by route and departure, so a direct search and a connection's
second leg seek exactly the flights of one route in a time window (the cost of a search
follows its answer, not the size of the airports)

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01 12:00:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_flights_route_departure",
        "flights",
        ["origin", "destination", "departure_at"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_flights_route_departure", table_name="flights")
