"""Query filters and response shapes of `/admin/*` (flights and users come as their owners'
shapes: flights/reports/schemas.py, users/accounts/schemas.py)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal, Self

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)

from flightdeck.flights.reports.schemas import ReportDate
from flightdeck.platform.instants import LocalInstant
from flightdeck.platform.money import Money
from flightdeck.platform.reporting import GroupBy

OutputFormat = Literal["json", "csv"]
ReportType = Literal["revenue", "occupancy", "on_time", "cancellations"]
BookingStatus = Literal["pending_payment", "confirmed", "cancelled", "expired"]
Currency = Annotated[
    str, StringConstraints(strip_whitespace=True, to_upper=True, pattern=r"^[A-Za-z]{3}$")
]
Identifier = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
Pnr = Annotated[
    str, StringConstraints(strip_whitespace=True, to_upper=True, pattern=r"^[A-Za-z0-9]{6}$")
]
EmailFilter = Annotated[
    str, StringConstraints(strip_whitespace=True, to_lower=True, min_length=3, max_length=320)
]
# Instants a filter may name: within the years the listings can hold.
FilterInstant = Annotated[
    AwareDatetime,
    Field(ge=datetime(2000, 1, 2, tzinfo=UTC), le=datetime(2099, 12, 30, tzinfo=UTC)),
]
MAX_REPORT_DAYS = 366


def _check_range(low: Any, high: Any, names: str) -> None:
    if low is not None and high is not None and high < low:
        raise ValueError(f"{names}: the end must not be before the start")


# --- bookings ----------------------------------------------------------------------------


class BookingFilters(BaseModel):
    """`created_from`/`created_to`: creation dates (UTC), both included; `email`: the
    owner's exact address, found by the accounts' unique index."""

    flight_id: Identifier | None = None
    status: BookingStatus | None = None
    created_from: ReportDate | None = None
    created_to: ReportDate | None = None
    pnr: Pnr | None = None
    email: EmailFilter | None = None

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        _check_range(self.created_from, self.created_to, "created_from/created_to")
        return self


class BookedSegmentRead(BaseModel):
    flight_id: str
    flight_number: str
    origin: str
    destination: str
    departure_time: LocalInstant
    service_date: date


class AdminBookingRead(BaseModel):
    id: str
    pnr: str
    owner_email: str | None
    user_id: str
    status: str
    cabin: str
    passengers: int
    segments: list[BookedSegmentRead]
    total_price: Money
    amount_paid: Money
    amount_refunded: Money
    created_at: datetime
    cancelled_at: datetime | None
    cancellation_reason: str | None
    expired_at: datetime | None


# --- audit -------------------------------------------------------------------------------


class AuditFilters(BaseModel):
    """`actor`: the user id of who made the change, or `actor_email`: their e-mail address
    (exact, any case); `from`/`to`: instants with an offset (`from` included, `to`
    excluded)."""

    model_config = ConfigDict(populate_by_name=True)

    actor: Identifier | None = None
    actor_email: EmailFilter | None = None
    entity: Annotated[str, StringConstraints(pattern=r"^[a-z_]{1,32}$")] | None = None
    entity_id: Identifier | None = None
    action: Annotated[str, StringConstraints(pattern=r"^[a-z_]{1,32}$")] | None = None
    occurred_from: FilterInstant | None = Field(default=None, alias="from")
    occurred_to: FilterInstant | None = Field(default=None, alias="to")

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        _check_range(self.occurred_from, self.occurred_to, "from/to")
        return self


class AuditEntryRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    occurred_at: datetime
    actor_id: str | None
    # Who the actor is now (their account's address; None for the system or a removed user).
    actor_email: str | None = None
    actor_role: str | None
    client_ip: str | None
    source: str
    action: str
    entity: str
    entity_id: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None


# --- reports -----------------------------------------------------------------------------


class ReportParams(BaseModel):
    """`from`/`to`: local service dates of the flights (both included; default: the 30 days
    up to today, at most 366 days); `currency`: only money in that currency."""

    model_config = ConfigDict(populate_by_name=True)

    type: ReportType
    date_from: ReportDate | None = Field(default=None, alias="from")
    date_to: ReportDate | None = Field(default=None, alias="to")
    group_by: GroupBy = "day"
    currency: Currency | None = None

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        _check_range(self.date_from, self.date_to, "from/to")
        return self


class RevenueRow(BaseModel):
    key: str
    currency: str
    captured: Money
    refunded: Money
    revenue: Money = Field(description="captured minus refunded")
    bookings: int
    passengers: int = Field(description="passengers paid for, counted once per flight")
    average_fare: Money = Field(description="revenue per passenger, rounded half up")
    rpk: int = Field(description="revenue passenger-km")
    yield_per_rpk: float = Field(description="revenue (minor units) per RPK, 6 decimals")


class OccupancyRow(BaseModel):
    key: str
    flights: int
    seats_offered: int
    seats_sold: int
    seat_factor: float = Field(description="seats sold / seats offered")
    ask: int = Field(description="available seat-km")
    rpk: int = Field(description="revenue passenger-km")
    load_factor: float = Field(description="RPK / ASK")


class OnTimeRow(BaseModel):
    key: str
    flights: int
    operated: int
    departed_on_time: int
    d15: float = Field(description="share of operated flights leaving < 15 min late")
    completed: int
    arrived_on_time: int
    a15: float = Field(description="share of completed flights arriving < 15 min late")
    cancelled: int
    diverted: int
    average_delay_minutes: float
    p90_delay_minutes: int | None


class CancellationRow(BaseModel):
    key: str
    flights_cancelled: int
    bookings_cancelled_by_airline: int
    bookings_cancelled_by_staff: int
    bookings_cancelled_by_passenger: int
    holds_expired: int
    refunds_paid: list[Money]


ReportRow = RevenueRow | OccupancyRow | OnTimeRow | CancellationRow


class Report(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    type: ReportType
    group_by: GroupBy
    date_from: date = Field(alias="from")
    date_to: date = Field(alias="to")
    currency: str | None
    rows: list[ReportRow]
    totals: list[ReportRow] = Field(description="one row (one per currency for revenue)")
