"""Schedules, dated flights, their cabins' inventory and their status history."""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Any

from sqlalchemy import (
    JSON,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Time,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from flightdeck.platform.clock import utcnow
from flightdeck.platform.db import AmountColumn, Base, IdMixin, TimestampMixin, UTCDateTime

CABINS = ("economy", "premium_economy", "business", "first")
# IATA service types (SSIM Appendix C) FlightDeck sells: scheduled and additional passenger
# services, also shuttles, surface-vehicle and mixed passenger/cargo-in-cabin ones. Charters
# (C, O, L) are sold by their charterer, cargo/mail and non-revenue flights are not sold.
SOLD_SERVICE_TYPES = ("J", "S", "U", "G", "B", "Q", "R")
SCHEDULE_STATUSES = ("active", "cancelled")
# A leg that follows another leg of its flight (the predicate of `ix_flights_later_legs`).
LATER_LEG = text("leg_sequence > 1")

FLIGHT_STATUSES = (
    "scheduled",
    "on_time",
    "delayed",
    "boarding",
    "departed",
    "arrived",
    "cancelled",
    "diverted",
)


class Schedule(IdMixin, TimestampMixin, Base):
    """A recurring flight written in airport local time; it generates dated flights."""

    __tablename__ = "schedules"
    __table_args__ = (
        CheckConstraint("valid_to >= valid_from", name="valid_period"),
        CheckConstraint("arrival_day_offset BETWEEN -1 AND 3", name="arrival_day_offset_range"),
        Index("ix_schedules_route", "origin", "destination"),
    )

    flight_number: Mapped[str] = mapped_column(String(8), index=True)
    origin: Mapped[str] = mapped_column(String(3))
    destination: Mapped[str] = mapped_column(String(3))
    departure_local: Mapped[time] = mapped_column(Time())
    arrival_local: Mapped[time] = mapped_column(Time())
    arrival_day_offset: Mapped[int] = mapped_column(Integer, default=0)
    days_of_week: Mapped[str] = mapped_column(String(7))
    valid_from: Mapped[date] = mapped_column(Date())
    valid_to: Mapped[date] = mapped_column(Date())
    aircraft: Mapped[str | None] = mapped_column(String(16), default=None)
    # {"economy": {"seats": 150, "fare": {"amount": 45000, "currency": "USD"}}, ...}
    cabins: Mapped[dict[str, Any]] = mapped_column(JSON)
    source: Mapped[str] = mapped_column(String(16), default="api")
    created_by: Mapped[str | None] = mapped_column(String(36), default=None)

    # What an SSIM file or SSM message carries (see flights/schedules/ssim/__init__.py). A leg of
    # a multi-leg flight is one schedule; its legs share flight number and itinerary variation.
    itinerary_variation: Mapped[int | None] = mapped_column(Integer, default=None)
    leg_sequence: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    # Days after the flight's date (its first leg's departure date) this leg departs.
    departure_day_offset: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    service_type: Mapped[str] = mapped_column(String(1), default="J", server_default="J")
    # cancelled: kept so an SSM RIN can reinstate it; it generates no flights.
    status: Mapped[str] = mapped_column(String(16), default="active", server_default="active")
    # SSIM traffic restriction codes, position 1 for this leg, 2 for this leg and the next, …
    traffic_restrictions: Mapped[str | None] = mapped_column(String(11), default=None)
    operating_carrier: Mapped[str | None] = mapped_column(String(3), default=None)
    operating_flight: Mapped[str | None] = mapped_column(String(8), default=None)
    onward_flight: Mapped[str | None] = mapped_column(String(8), default=None)
    # The aircraft configuration/version as filed (e.g. "J14W34Y316VV364"), for the export.
    aircraft_configuration: Mapped[str | None] = mapped_column(String(160), default=None)


class Flight(IdMixin, TimestampMixin, Base):
    """One dated flight leg. Instants are UTC; `service_date` is the local date at the origin.

    The legs of a multi-leg flight share `flight_number` and `flight_date` (the local
    departure date of the first leg) and are told apart by `leg_sequence`; a single-leg flight
    is leg 1 and its `flight_date` is its `service_date`.
    """

    __tablename__ = "flights"
    __table_args__ = (
        UniqueConstraint("flight_number", "flight_date", "leg_sequence"),
        CheckConstraint("arrival_at > departure_at", name="arrives_after_departure"),
        Index("ix_flights_origin_departure", "origin", "departure_at"),
        Index("ix_flights_destination_departure", "destination", "departure_at"),
        # Search: a route's flights in a window (direct flights, a connection's second leg).
        Index("ix_flights_route_departure", "origin", "destination", "departure_at"),
        Index("ix_flights_departure", "departure_at"),
        # Search's through journeys: the next leg of a multi-leg flight, on the legs that
        # follow another (`LATER_LEG`) only. Most flights have one leg, so most of a search's
        # departures find theirs in a small index (or none: PostgreSQL then skips the probes).
        Index(
            "ix_flights_later_legs",
            "flight_number",
            "flight_date",
            "leg_sequence",
            sqlite_where=LATER_LEG,
            postgresql_where=LATER_LEG,
        ),
        # A flight number's flights of a window (search's punctuality, its last 30 days): the
        # window on the number, where the unique key only narrows to every date of it (a
        # generic plan then also read the departure index's whole window: ~4 ms for 8 numbers).
        Index("ix_flights_number_departure", "flight_number", "departure_at"),
        # Reports and the admin listing select by local service date.
        Index("ix_flights_service_date", "service_date"),
    )

    flight_number: Mapped[str] = mapped_column(String(8))
    service_date: Mapped[date] = mapped_column(Date())
    flight_date: Mapped[date] = mapped_column(Date())
    leg_sequence: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    itinerary_variation: Mapped[int | None] = mapped_column(Integer, default=None)
    service_type: Mapped[str] = mapped_column(String(1), default="J", server_default="J")
    traffic_restrictions: Mapped[str | None] = mapped_column(String(11), default=None)
    operating_carrier: Mapped[str | None] = mapped_column(String(3), default=None)
    operating_flight: Mapped[str | None] = mapped_column(String(8), default=None)
    origin: Mapped[str] = mapped_column(String(3))
    destination: Mapped[str] = mapped_column(String(3))
    # The arrival airport's ISO country, kept with the flight: search tells in SQL whether a
    # connection there is domestic (its minimum connection time) for a trip within a country.
    destination_country: Mapped[str] = mapped_column(String(2))
    departure_at: Mapped[datetime] = mapped_column(UTCDateTime())
    arrival_at: Mapped[datetime] = mapped_column(UTCDateTime())
    aircraft: Mapped[str | None] = mapped_column(String(16), default=None)
    schedule_id: Mapped[str | None] = mapped_column(
        ForeignKey("schedules.id", ondelete="SET NULL"), default=None, index=True
    )
    # Great-circle distance between the airports, kept with the flight for ASK/RPK reports.
    distance_km: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))

    # Live status (the latest; every change is also kept in flight_status_changes).
    status: Mapped[str] = mapped_column(String(16), default="scheduled", index=True)
    estimated_departure_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    actual_departure_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    estimated_arrival_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    actual_arrival_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    delay_minutes: Mapped[int] = mapped_column(Integer, default=0)
    gate: Mapped[str | None] = mapped_column(String(8), default=None)
    terminal: Mapped[str | None] = mapped_column(String(8), default=None)
    diverted_to: Mapped[str | None] = mapped_column(String(3), default=None)
    status_updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    # Actual minus scheduled, in whole minutes (negative: early), once the actual is known:
    # what punctuality reports (D15, A15, percentiles) aggregate in SQL.
    departure_delay_minutes: Mapped[int | None] = mapped_column(Integer, default=None)
    arrival_delay_minutes: Mapped[int | None] = mapped_column(Integer, default=None)

    cabins: Mapped[list[FlightCabin]] = relationship(
        back_populates="flight",
        cascade="all, delete-orphan",
        lazy="selectin",
        order_by="FlightCabin.cabin",
    )


class FlightCabin(IdMixin, Base):
    """Seat inventory of one cabin on one flight; `sold` only moves by conditional update."""

    __tablename__ = "flight_cabins"
    __table_args__ = (
        UniqueConstraint("flight_id", "cabin"),
        CheckConstraint("capacity >= 0", name="capacity_not_negative"),
        CheckConstraint("sold >= 0 AND sold <= capacity", name="sold_within_capacity"),
        CheckConstraint("fare_amount >= 0", name="fare_not_negative"),
    )

    # In the primary key: the distribution column of a flight's rows (flightdeck/data_layout.py).
    flight_id: Mapped[str] = mapped_column(
        ForeignKey("flights.id", ondelete="CASCADE"), primary_key=True
    )
    cabin: Mapped[str] = mapped_column(String(16))
    capacity: Mapped[int] = mapped_column(Integer)
    sold: Mapped[int] = mapped_column(Integer, default=0)
    fare_amount: Mapped[int] = mapped_column(AmountColumn)
    fare_currency: Mapped[str] = mapped_column(String(3))

    flight: Mapped[Flight] = relationship(back_populates="cabins")


class FlightStatusChange(IdMixin, Base):
    """History: one row per status update, who made it and what it said."""

    __tablename__ = "flight_status_changes"

    # The primary key (flight_id, changed_at, id) is also the history's index: by flight, in
    # time order. It holds the distribution column and, on PostgreSQL, the partition key
    # (flightdeck/data_layout.py: the table is partitioned by month of `changed_at`).
    flight_id: Mapped[str] = mapped_column(
        ForeignKey("flights.id", ondelete="CASCADE"), primary_key=True
    )
    from_status: Mapped[str | None] = mapped_column(String(16), default=None)
    status: Mapped[str] = mapped_column(String(16))
    estimated_departure_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    actual_departure_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    estimated_arrival_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    actual_arrival_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    delay_minutes: Mapped[int] = mapped_column(Integer, default=0)
    gate: Mapped[str | None] = mapped_column(String(8), default=None)
    terminal: Mapped[str | None] = mapped_column(String(8), default=None)
    remark: Mapped[str | None] = mapped_column(String(500), default=None)
    source: Mapped[str] = mapped_column(String(32), default="api")
    changed_by: Mapped[str | None] = mapped_column(String(36), default=None)
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime(), primary_key=True)


class SeatAssignment(IdMixin, Base):
    """A chosen seat held by one passenger of a booking; unique per (flight, seat), which is
    what settles two bookings racing for the same seat."""

    __tablename__ = "seat_assignments"
    __table_args__ = (UniqueConstraint("flight_id", "seat"),)

    flight_id: Mapped[str] = mapped_column(
        ForeignKey("flights.id", ondelete="CASCADE"), primary_key=True
    )
    seat: Mapped[str] = mapped_column(String(4))
    cabin: Mapped[str] = mapped_column(String(16))
    # No foreign key: bookings may live in MongoDB.
    booking_id: Mapped[str] = mapped_column(String(36), index=True)
    passenger_index: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class InventoryHold(IdMixin, Base):
    """Seats one booking holds on one flight. Releasing deletes the row; only the transaction
    whose delete removed it gives the seats back, so a release is never applied twice."""

    __tablename__ = "inventory_holds"
    __table_args__ = (
        UniqueConstraint("booking_id", "flight_id"),
        CheckConstraint("quantity > 0", name="quantity_positive"),
        Index("ix_inventory_holds_created", "created_at"),
    )

    booking_id: Mapped[str] = mapped_column(String(36))
    flight_id: Mapped[str] = mapped_column(
        ForeignKey("flights.id", ondelete="CASCADE"), primary_key=True
    )
    cabin: Mapped[str] = mapped_column(String(16))
    quantity: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
