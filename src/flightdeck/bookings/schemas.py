"""Request and response shapes of bookings, and how a booking record is shown to a viewer."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field, StringConstraints, model_validator

from flightdeck.bookings.records import BookingRecord, PassengerRecord, SegmentRecord
from flightdeck.flights.airports import to_local
from flightdeck.platform.bounds import BirthDate
from flightdeck.platform.instants import LocalInstant
from flightdeck.platform.money import Money
from flightdeck.platform.text import RESOURCE_ID_PATTERN, SingleLineText

MAX_SEGMENTS = 4
MAX_PASSENGERS = 9  # one booking (PNR) holds at most nine passengers, as airlines do
PASSPORT_MASK = "•••••"

CabinName = Annotated[str, StringConstraints(pattern=r"^(economy|premium_economy|business|first)$")]
Name = Annotated[SingleLineText, StringConstraints(min_length=1, max_length=100)]
FlightId = Annotated[
    str, StringConstraints(strip_whitespace=True, pattern=RESOURCE_ID_PATTERN, max_length=36)
]
# Checked against the cabin's layout by the inventory ("12A"; case ignored).
SeatCode = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, to_upper=True, pattern=r"^[0-9]{1,3}[A-Za-z]$", max_length=4
    ),
]
PassportNumber = Annotated[
    str,
    StringConstraints(strip_whitespace=True, to_upper=True, pattern=r"^[A-Za-z0-9]{5,20}$"),
]


class PassengerCreate(BaseModel):
    first_name: Name
    last_name: Name
    date_of_birth: BirthDate
    passport_number: PassportNumber | None = None
    seat: SeatCode | None = Field(
        default=None, description="Seat on the first segment (see `seats` for every segment)"
    )
    seats: list[SeatCode | None] | None = Field(
        default=None,
        description="One seat (or null) per segment, in segment order; an addition to the "
        "contract's single `seat`, which applies to the first segment only",
    )

    @model_validator(mode="after")
    def _seat_agrees_with_seats(self) -> PassengerCreate:
        if self.seat is not None and self.seats and self.seats[0] != self.seat:
            raise ValueError("seat and seats[0] name different seats")
        return self

    def seats_for(self, segment_count: int) -> list[str | None]:
        """This passenger's seat on each segment (None: not chosen)."""
        if self.seats is not None:
            return list(self.seats)
        return [self.seat] + [None] * (segment_count - 1)


class BookingCreate(BaseModel):
    segments: list[FlightId] = Field(
        min_length=1,
        max_length=MAX_SEGMENTS,
        description="Flight ids in travel order; each departs from the previous one's "
        "destination after it arrives",
    )
    cabin: CabinName = "economy"
    passengers: list[PassengerCreate] = Field(min_length=1, max_length=MAX_PASSENGERS)

    @model_validator(mode="after")
    def _seats_per_segment(self) -> BookingCreate:
        for index, passenger in enumerate(self.passengers):
            if passenger.seats is not None and len(passenger.seats) != len(self.segments):
                raise ValueError(
                    f"passengers.{index}.seats must have one entry per segment "
                    f"({len(self.segments)})"
                )
        return self


class PassengerRead(BaseModel):
    first_name: str
    last_name: str
    date_of_birth: BirthDate
    passport_number: str | None = Field(
        description="In full to the booking's owner only; others see the last four characters"
    )
    seat: str | None = Field(description="Seat on the first segment")
    seats: list[str | None] = Field(description="Seat per segment, in segment order")


class SegmentRead(BaseModel):
    flight_id: str
    flight_number: str
    origin: str
    destination: str
    departure_time: LocalInstant
    arrival_time: LocalInstant
    duration_minutes: int
    cabin: str
    fare: Money = Field(description="Per passenger")
    seats: list[str | None] = Field(description="Seat per passenger, in passenger order")


class BookingRead(BaseModel):
    id: str
    pnr: str
    user_id: str
    status: Literal["pending_payment", "confirmed", "cancelled", "expired"]
    cabin: str
    hold_expires_at: datetime
    total_price: Money
    passengers: list[PassengerRead]
    segments: list[SegmentRead]
    created_at: datetime
    updated_at: datetime
    confirmed_at: datetime | None
    cancelled_at: datetime | None
    cancellation_reason: str | None
    refund_amount: Money | None = Field(description="Owed back after a cancellation")
    expired_at: datetime | None


class BookingCancellation(BaseModel):
    """`DELETE /bookings/{id}`."""

    status: Literal["cancelled"] = "cancelled"
    refund: Money | None = Field(description="Paid back by the payments domain; null if unpaid")
    booking: BookingRead


class CancellationQuote(BaseModel):
    """`GET /bookings/{id}/cancellation`: what cancelling now would pay back (nothing changes)."""

    cancellable: bool = Field(description="False once cancelled or expired")
    refund: Money | None = Field(description="Paid back if cancelled now; null if unpaid")
    full_refund_until: datetime | None = Field(
        description="Until when a cancellation is refunded in full (UTC); null if unpaid"
    )
    rule: str = Field(description="The fare rule that applies, in words")


def mask_passport(number: str | None) -> str | None:
    return None if number is None else PASSPORT_MASK + number[-4:]


def _passenger_read(
    passenger: PassengerRecord, index: int, segments: tuple[SegmentRecord, ...], full: bool
) -> PassengerRead:
    seats = [segment.seats[index] for segment in segments]
    return PassengerRead(
        first_name=passenger.first_name,
        last_name=passenger.last_name,
        date_of_birth=passenger.date_of_birth,
        passport_number=passenger.passport_number
        if full
        else mask_passport(passenger.passport_number),
        seat=seats[0] if seats else None,
        seats=seats,
    )


def _segment_read(segment: SegmentRecord, cabin: str) -> SegmentRead:
    return SegmentRead(
        flight_id=segment.flight_id,
        flight_number=segment.flight_number,
        origin=segment.origin,
        destination=segment.destination,
        departure_time=to_local(segment.departure_at, segment.origin),
        arrival_time=to_local(segment.arrival_at, segment.destination),
        duration_minutes=int((segment.arrival_at - segment.departure_at).total_seconds() // 60),
        cabin=cabin,
        fare=segment.fare,
        seats=list(segment.seats),
    )


def booking_to_read(booking: BookingRecord, *, viewer_id: str) -> BookingRead:
    """The booking as `viewer_id` may see it: passport numbers in full to the owner only."""
    owner = viewer_id == booking.user_id
    return BookingRead(
        id=booking.id,
        pnr=booking.pnr,
        user_id=booking.user_id,
        status=booking.status,
        cabin=booking.cabin,
        hold_expires_at=booking.hold_expires_at,
        total_price=booking.total_price,
        passengers=[
            _passenger_read(p, i, booking.segments, owner) for i, p in enumerate(booking.passengers)
        ],
        segments=[_segment_read(s, booking.cabin) for s in booking.segments],
        created_at=booking.created_at,
        updated_at=booking.updated_at,
        confirmed_at=booking.confirmed_at,
        cancelled_at=booking.cancelled_at,
        cancellation_reason=booking.cancellation_reason,
        refund_amount=booking.refund_amount,
        expired_at=booking.expired_at,
    )
