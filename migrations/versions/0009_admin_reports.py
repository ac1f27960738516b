"""admin: the audit log, users' token version, and what reports aggregate in SQL — flights'
great-circle distance and actual delays, booking segments' service date, the segments each
payment pays for (payment_segments) — with the indexes the listings and reports use; existing
rows are backfilled

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 09:00:00.000000
"""

import math
from collections.abc import Sequence
from datetime import date, datetime
from functools import lru_cache
from typing import Any
from uuid import uuid4
from zoneinfo import ZoneInfo

import airportsdata
import sqlalchemy as sa
from alembic import op

import flightdeck.platform.db

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC_DATETIME = flightdeck.platform.db.UTCDateTime(timezone=True)
EARTH_RADIUS_KM = 6371.0088
CAPTURED_STATUSES = ("succeeded", "partially_refunded", "refunded", "disputed")
BATCH = 1000


def upgrade() -> None:
    _create_audit_log()
    _add_columns_and_indexes()
    _create_payment_segments()
    _backfill()


def _create_audit_log() -> None:
    op.create_table(
        "audit_log",
        sa.Column("occurred_at", UTC_DATETIME, nullable=False),
        sa.Column("actor_id", sa.String(length=36), nullable=True),
        sa.Column("actor_role", sa.String(length=16), nullable=True),
        sa.Column("client_ip", sa.String(length=45), nullable=True),
        sa.Column("source", sa.String(length=40), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("entity", sa.String(length=32), nullable=False),
        sa.Column("entity_id", sa.String(length=64), nullable=False),
        sa.Column("before", sa.JSON(), nullable=True),
        sa.Column("after", sa.JSON(), nullable=True),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.create_index("ix_audit_log_occurred", ["occurred_at", "id"], unique=False)
        batch_op.create_index("ix_audit_log_actor", ["actor_id", "occurred_at"], unique=False)
        batch_op.create_index(
            "ix_audit_log_entity", ["entity", "entity_id", "occurred_at"], unique=False
        )
        batch_op.create_index("ix_audit_log_action", ["action", "occurred_at"], unique=False)


def _add_columns_and_indexes() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("token_version", sa.Integer(), server_default=sa.text("0"), nullable=False)
        )
    with op.batch_alter_table("flights", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("distance_km", sa.Integer(), server_default=sa.text("0"), nullable=False)
        )
        batch_op.add_column(sa.Column("departure_delay_minutes", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("arrival_delay_minutes", sa.Integer(), nullable=True))
        batch_op.create_index("ix_flights_service_date", ["service_date"], unique=False)
    with op.batch_alter_table("booking_segments", schema=None) as batch_op:
        batch_op.add_column(sa.Column("service_date", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("outcome", sa.String(length=32), nullable=True))
        batch_op.create_index(
            "ix_booking_segments_ended",
            ["service_date"],
            unique=False,
            sqlite_where=sa.text("outcome IS NOT NULL"),
            postgresql_where=sa.text("outcome IS NOT NULL"),
            postgresql_include=["origin", "destination", "flight_number", "position", "outcome"],
        )
    with op.batch_alter_table("bookings", schema=None) as batch_op:
        batch_op.create_index("ix_bookings_created", ["created_at", "id"], unique=False)
        batch_op.create_index(
            "ix_bookings_status_created", ["status", "created_at", "id"], unique=False
        )
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.create_index("ix_payments_booking_id", ["booking_id"], unique=False)


def _create_payment_segments() -> None:
    op.create_table(
        "payment_segments",
        sa.Column("payment_id", sa.String(length=36), nullable=False),
        sa.Column("booking_id", sa.String(length=36), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("flight_id", sa.String(length=36), nullable=False),
        sa.Column("flight_number", sa.String(length=8), nullable=False),
        sa.Column("origin", sa.String(length=3), nullable=False),
        sa.Column("destination", sa.String(length=3), nullable=False),
        sa.Column("service_date", sa.Date(), nullable=False),
        sa.Column("cabin", sa.String(length=16), nullable=False),
        sa.Column("passengers", sa.Integer(), nullable=False),
        sa.Column("distance_km", sa.Integer(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("amount", sa.Integer(), nullable=False),
        sa.Column("captured_amount", sa.Integer(), nullable=False),
        sa.Column("refunded_amount", sa.Integer(), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payment_segments")),
        sa.UniqueConstraint(
            "payment_id", "position", name=op.f("uq_payment_segments_payment_id_position")
        ),
    )
    with op.batch_alter_table("payment_segments", schema=None) as batch_op:
        batch_op.create_index(
            "ix_payment_segments_service_date",
            ["service_date"],
            unique=False,
            postgresql_include=[
                "captured_amount",
                "refunded_amount",
                "currency",
                "origin",
                "destination",
                "flight_number",
                "cabin",
                "passengers",
                "distance_km",
                "position",
            ],
        )
        batch_op.create_index(
            "ix_payment_segments_refunded",
            ["service_date"],
            unique=False,
            sqlite_where=sa.text("refunded_amount > 0"),
            postgresql_where=sa.text("refunded_amount > 0"),
        )


# --- backfill (a frozen copy of the rules the code applies when it writes these) ------------


@lru_cache(maxsize=1)
def _airports() -> dict[str, Any]:
    return dict(airportsdata.load("IATA"))


@lru_cache(maxsize=4096)
def _distance_km(origin: str, destination: str) -> int:
    a, b = _airports().get(origin), _airports().get(destination)
    if a is None or b is None:
        return 0
    lat1, lat2 = math.radians(float(a["lat"])), math.radians(float(b["lat"]))
    dlon = math.radians(float(b["lon"]) - float(a["lon"]))
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin(dlon / 2) ** 2
    return round(2 * EARTH_RADIUS_KM * math.asin(math.sqrt(min(1.0, h))))


def _service_date(departure_at: datetime, origin: str) -> date:
    airport = _airports().get(origin)
    zone = ZoneInfo(airport["tz"]) if airport and airport.get("tz") else ZoneInfo("UTC")
    return departure_at.astimezone(zone).date()


def _minutes(later: datetime, earlier: datetime) -> int:
    return round((later - earlier).total_seconds() / 60)


def _split(total: int, weights: list[int]) -> list[int]:
    whole = sum(weights)
    if whole <= 0:
        return [total] + [0] * (len(weights) - 1)
    shares = [total * weight // whole for weight in weights]
    for index in range(total - sum(shares)):
        shares[index % len(shares)] += 1
    return shares


FLIGHTS = sa.table(
    "flights",
    sa.column("id", sa.String),
    sa.column("origin", sa.String),
    sa.column("destination", sa.String),
    sa.column("distance_km", sa.Integer),
    sa.column("departure_at", UTC_DATETIME),
    sa.column("arrival_at", UTC_DATETIME),
    sa.column("actual_departure_at", UTC_DATETIME),
    sa.column("actual_arrival_at", UTC_DATETIME),
    sa.column("departure_delay_minutes", sa.Integer),
    sa.column("arrival_delay_minutes", sa.Integer),
)
SEGMENTS = sa.table(
    "booking_segments",
    sa.column("id", sa.String),
    sa.column("booking_id", sa.String),
    sa.column("position", sa.Integer),
    sa.column("flight_id", sa.String),
    sa.column("flight_number", sa.String),
    sa.column("origin", sa.String),
    sa.column("destination", sa.String),
    sa.column("departure_at", UTC_DATETIME),
    sa.column("service_date", sa.Date),
    sa.column("fare_amount", sa.Integer),
    sa.column("fare_currency", sa.String),
)
BOOKINGS = sa.table("bookings", sa.column("id", sa.String), sa.column("cabin", sa.String))
PASSENGERS = sa.table("booking_passengers", sa.column("booking_id", sa.String))
PAYMENTS = sa.table(
    "payments",
    sa.column("id", sa.String),
    sa.column("booking_id", sa.String),
    sa.column("status", sa.String),
    sa.column("refunded_amount", sa.Integer),
)
PAYMENT_SEGMENTS = sa.table(
    "payment_segments",
    *(
        sa.column(name, kind)
        for name, kind in (
            ("id", sa.String),
            ("payment_id", sa.String),
            ("booking_id", sa.String),
            ("position", sa.Integer),
            ("flight_id", sa.String),
            ("flight_number", sa.String),
            ("origin", sa.String),
            ("destination", sa.String),
            ("service_date", sa.Date),
            ("cabin", sa.String),
            ("passengers", sa.Integer),
            ("distance_km", sa.Integer),
            ("currency", sa.String),
            ("amount", sa.Integer),
            ("captured_amount", sa.Integer),
            ("refunded_amount", sa.Integer),
        )
    ),
)


def _backfill() -> None:
    bind = op.get_bind()
    _backfill_flights(bind)
    _backfill_segment_dates(bind)
    _backfill_outcomes(bind)
    _backfill_payment_segments(bind)


def _backfill_flights(bind: sa.Connection) -> None:
    routes = bind.execute(sa.select(FLIGHTS.c.origin, FLIGHTS.c.destination).distinct()).all()
    for origin, destination in routes:
        bind.execute(
            FLIGHTS.update()
            .where(FLIGHTS.c.origin == origin, FLIGHTS.c.destination == destination)
            .values(distance_km=_distance_km(origin, destination))
        )
    flown = bind.execute(
        sa.select(
            FLIGHTS.c.id,
            FLIGHTS.c.departure_at,
            FLIGHTS.c.arrival_at,
            FLIGHTS.c.actual_departure_at,
            FLIGHTS.c.actual_arrival_at,
        ).where(FLIGHTS.c.actual_departure_at.is_not(None))
    ).all()
    for flight_id, departure_at, arrival_at, actual_departure, actual_arrival in flown:
        bind.execute(
            FLIGHTS.update()
            .where(FLIGHTS.c.id == flight_id)
            .values(
                departure_delay_minutes=_minutes(actual_departure, departure_at),
                arrival_delay_minutes=(
                    None if actual_arrival is None else _minutes(actual_arrival, arrival_at)
                ),
            )
        )


def _backfill_outcomes(bind: sa.Connection) -> None:
    """How each booking that ended did, onto its segments."""
    bind.execute(
        sa.text(
            """UPDATE booking_segments SET outcome = (
                SELECT CASE WHEN b.status = 'expired' THEN 'expired'
                            ELSE COALESCE(b.cancellation_reason, 'cancelled') END
                FROM bookings b WHERE b.id = booking_segments.booking_id)
            WHERE booking_id IN (
                SELECT id FROM bookings WHERE status IN ('cancelled', 'expired'))"""
        )
    )


def _backfill_segment_dates(bind: sa.Connection) -> None:
    rows = bind.execute(
        sa.select(SEGMENTS.c.id, SEGMENTS.c.departure_at, SEGMENTS.c.origin).where(
            SEGMENTS.c.service_date.is_(None)
        )
    ).all()
    for segment_id, departure_at, origin in rows:
        bind.execute(
            SEGMENTS.update()
            .where(SEGMENTS.c.id == segment_id)
            .values(service_date=_service_date(departure_at, origin))
        )


def _backfill_payment_segments(bind: sa.Connection) -> None:
    """Bookings kept in MongoDB cannot be reached from here: their payments get segments from
    the next payment on (see docs/ARCHITECTURE.md, "Reports")."""
    passengers = (
        sa.select(PASSENGERS.c.booking_id, sa.func.count().label("n"))
        .group_by(PASSENGERS.c.booking_id)
        .subquery()
    )
    payments = bind.execute(
        sa.select(
            PAYMENTS.c.id,
            PAYMENTS.c.booking_id,
            PAYMENTS.c.status,
            PAYMENTS.c.refunded_amount,
            BOOKINGS.c.cabin,
            passengers.c.n,
        )
        .join(BOOKINGS, BOOKINGS.c.id == PAYMENTS.c.booking_id)
        .join(passengers, passengers.c.booking_id == PAYMENTS.c.booking_id)
    ).all()
    rows: list[dict[str, Any]] = []
    for payment_id, booking_id, status, refunded, cabin, count in payments:
        segments = bind.execute(
            sa.select(SEGMENTS).where(SEGMENTS.c.booking_id == booking_id).order_by("position")
        ).all()
        amounts = [segment.fare_amount * count for segment in segments]
        refunds = _split(refunded or 0, amounts)
        for segment, amount, refund in zip(segments, amounts, refunds, strict=True):
            rows.append(
                {
                    "id": str(uuid4()),
                    "payment_id": payment_id,
                    "booking_id": booking_id,
                    "position": segment.position,
                    "flight_id": segment.flight_id,
                    "flight_number": segment.flight_number,
                    "origin": segment.origin,
                    "destination": segment.destination,
                    "service_date": _service_date(segment.departure_at, segment.origin),
                    "cabin": cabin,
                    "passengers": count,
                    "distance_km": _distance_km(segment.origin, segment.destination),
                    "currency": segment.fare_currency,
                    "amount": amount,
                    "captured_amount": amount if status in CAPTURED_STATUSES else 0,
                    "refunded_amount": refund,
                }
            )
        if len(rows) >= BATCH:
            bind.execute(PAYMENT_SEGMENTS.insert(), rows)
            rows = []
    if rows:
        bind.execute(PAYMENT_SEGMENTS.insert(), rows)


def downgrade() -> None:
    with op.batch_alter_table("payment_segments", schema=None) as batch_op:
        batch_op.drop_index("ix_payment_segments_refunded")
        batch_op.drop_index("ix_payment_segments_service_date")
    op.drop_table("payment_segments")
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.drop_index("ix_payments_booking_id")
    with op.batch_alter_table("bookings", schema=None) as batch_op:
        batch_op.drop_index("ix_bookings_status_created")
        batch_op.drop_index("ix_bookings_created")
    with op.batch_alter_table("booking_segments", schema=None) as batch_op:
        batch_op.drop_index("ix_booking_segments_ended")
        batch_op.drop_column("outcome")
        batch_op.drop_column("service_date")
    with op.batch_alter_table("flights", schema=None) as batch_op:
        batch_op.drop_index("ix_flights_service_date")
        batch_op.drop_column("arrival_delay_minutes")
        batch_op.drop_column("departure_delay_minutes")
        batch_op.drop_column("distance_km")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("token_version")
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_log_action")
        batch_op.drop_index("ix_audit_log_entity")
        batch_op.drop_index("ix_audit_log_actor")
        batch_op.drop_index("ix_audit_log_occurred")
    op.drop_table("audit_log")
