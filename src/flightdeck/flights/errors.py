"""Errors of the flights domain."""

from __future__ import annotations

from flightdeck.platform.errors import AppError, Conflict, NotFound, Unprocessable


class UnknownAirport(Unprocessable):
    code = "unknown_airport"

    def __init__(self, airport: str, field: str = "airport") -> None:
        super().__init__(
            f"{field}: unknown airport code {airport!r}",
            details={"field": field, "airport": airport},
        )


class FlightNotFound(NotFound):
    code = "flight_not_found"
    message = "Flight not found"


class ScheduleNotFound(NotFound):
    code = "schedule_not_found"
    message = "Schedule not found"


class InvalidStatusTransition(Conflict):
    code = "invalid_status_transition"


class CapacityBelowSold(Conflict):
    code = "capacity_below_sold"


class DuplicateFlight(Conflict):
    code = "duplicate_flight"


class FlightNotEditable(AppError):
    status_code = 409
    code = "flight_not_editable"


# --- seat inventory (inventory_service) ---------------------------------------------------


class UnknownFlight(Unprocessable):
    """A flight id in a booking request that does not exist (the request is bad, not the URL)."""

    code = "unknown_flight"

    def __init__(self, flight_id: str) -> None:
        super().__init__(f"Unknown flight {flight_id!r}", details={"flight_id": flight_id})


class FlightNotBookable(Conflict):
    code = "flight_not_bookable"


class CabinNotOffered(Unprocessable):
    code = "cabin_not_offered"


class InvalidSeat(Unprocessable):
    code = "invalid_seat"


class DuplicateSeat(Unprocessable):
    code = "duplicate_seat"


class DuplicateSegment(Unprocessable):
    code = "duplicate_segment"


class InventoryAlreadyHeld(Conflict):
    """The booking already holds seats on that flight (hold once, release, hold again)."""

    code = "inventory_already_held"


class SeatsUnavailable(Conflict):
    code = "seats_unavailable"


class SeatUnavailable(Conflict):
    code = "seat_unavailable"


class TrafficRestricted(Unprocessable):
    """A booking uses a segment its SSIM traffic restriction forbids (inventory/traffic.py)."""

    code = "traffic_restricted"
