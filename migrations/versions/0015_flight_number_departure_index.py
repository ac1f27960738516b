"""flights indexed by flight number and departure: search's punctuality reads a flight
number's flights of the last 30 days on one index range (the unique key narrowed only to the
number, and PostgreSQL's generic plan then also read the departure index's whole window)

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-03 13:00:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_flights_number_departure", "flights", ["flight_number", "departure_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_flights_number_departure", table_name="flights")
