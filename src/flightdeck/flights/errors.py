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
