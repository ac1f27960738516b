"""flights' later legs indexed on their own (flight number, flight date, leg sequence where
the leg sequence is past 1): a one-stop search finds the next leg of each departure from the
origin (a through journey) in an index of the legs that follow another, small where most
flights have one leg, instead of probing the unique key of every flight

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-03 12:45:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_flights_later_legs",
        "flights",
        ["flight_number", "flight_date", "leg_sequence"],
        unique=False,
        sqlite_where=sa.text("leg_sequence > 1"),
        postgresql_where=sa.text("leg_sequence > 1"),
    )


def downgrade() -> None:
    op.drop_index("ix_flights_later_legs", table_name="flights")
