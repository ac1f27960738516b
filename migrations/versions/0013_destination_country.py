"""flights keep their arrival airport's country (destination_country): a one-stop search tells
in SQL whether a connection is domestic (its shorter minimum connection time) for a trip
within one country; existing flights get it from the airport data

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03 07:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from flightdeck.flights.airports import find_airport

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("flights", schema=None) as batch_op:
        batch_op.add_column(sa.Column("destination_country", sa.String(length=2), nullable=True))
    bind = op.get_bind()
    flights = sa.table("flights", sa.column("destination"), sa.column("destination_country"))
    codes = bind.execute(sa.select(flights.c.destination).distinct()).scalars().all()
    for code in codes:
        airport = find_airport(code)
        # An airport the data does not know (none is created so) counts as abroad: '' is no
        # country, so no connection there is taken for domestic.
        bind.execute(
            flights.update()
            .where(flights.c.destination == code)
            .values(destination_country=airport.country if airport is not None else "")
        )
    with op.batch_alter_table("flights", schema=None) as batch_op:
        batch_op.alter_column(
            "destination_country", existing_type=sa.String(length=2), nullable=False
        )


def downgrade() -> None:
    with op.batch_alter_table("flights", schema=None) as batch_op:
        batch_op.drop_column("destination_country")
