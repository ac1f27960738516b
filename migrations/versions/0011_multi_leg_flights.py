"""multi-leg flights and what SSIM files carry: a flight's legs share (flight_number,
flight_date) and are told apart by leg_sequence; schedules and flights keep the itinerary
variation, service type, traffic restrictions and codeshare carriers; schedules keep the
aircraft configuration as filed and may be cancelled (kept for an SSM reinstatement)

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-28 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _ssim_columns() -> list[sa.Column[object]]:
    """The columns schedules and flights both gain."""
    return [
        sa.Column("itinerary_variation", sa.Integer(), nullable=True),
        sa.Column("leg_sequence", sa.Integer(), server_default="1", nullable=False),
        sa.Column("service_type", sa.String(length=1), server_default="J", nullable=False),
        sa.Column("traffic_restrictions", sa.String(length=11), nullable=True),
        sa.Column("operating_carrier", sa.String(length=3), nullable=True),
        sa.Column("operating_flight", sa.String(length=8), nullable=True),
    ]


def upgrade() -> None:
    with op.batch_alter_table("schedules", schema=None) as batch_op:
        for column in _ssim_columns():
            batch_op.add_column(column)
        batch_op.add_column(
            sa.Column("departure_day_offset", sa.Integer(), server_default="0", nullable=False)
        )
        batch_op.add_column(
            sa.Column("status", sa.String(length=16), server_default="active", nullable=False)
        )
        batch_op.add_column(sa.Column("onward_flight", sa.String(length=8), nullable=True))
        batch_op.add_column(
            sa.Column("aircraft_configuration", sa.String(length=160), nullable=True)
        )

    with op.batch_alter_table("flights", schema=None) as batch_op:
        batch_op.add_column(sa.Column("flight_date", sa.Date(), nullable=True))
        for column in _ssim_columns():
            batch_op.add_column(column)
    # Every existing flight is a single-leg flight: its flight date is its service date.
    op.execute(sa.text("UPDATE flights SET flight_date = service_date"))
    # On SQLite this rebuilds the table; migrations/env.py turns foreign keys off around it.
    with op.batch_alter_table("flights", schema=None) as batch_op:
        batch_op.alter_column("flight_date", existing_type=sa.Date(), nullable=False)
        batch_op.drop_constraint("uq_flights_flight_number_service_date", type_="unique")
        batch_op.create_unique_constraint(
            batch_op.f("uq_flights_flight_number_flight_date_leg_sequence"),
            ["flight_number", "flight_date", "leg_sequence"],
        )
    _check_foreign_keys()


def downgrade() -> None:
    # Only possible while no two legs of one flight number share a service date.
    with op.batch_alter_table("flights", schema=None) as batch_op:
        batch_op.drop_constraint(
            "uq_flights_flight_number_flight_date_leg_sequence", type_="unique"
        )
        batch_op.create_unique_constraint(
            batch_op.f("uq_flights_flight_number_service_date"), ["flight_number", "service_date"]
        )
        for name in ("flight_date", *(c.name for c in _ssim_columns())):
            batch_op.drop_column(name)
    with op.batch_alter_table("schedules", schema=None) as batch_op:
        for name in (
            "aircraft_configuration",
            "onward_flight",
            "status",
            "departure_day_offset",
            *(c.name for c in _ssim_columns()),
        ):
            batch_op.drop_column(name)
    _check_foreign_keys()


def _check_foreign_keys() -> None:
    """SQLite rebuilt a referenced table with foreign keys off: prove nothing dangles."""
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        return
    problems = bind.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
    if problems:
        raise RuntimeError(f"foreign keys broken by the table rebuild: {problems[:5]}")
