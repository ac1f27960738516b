"""Errors of the bookings domain."""

from __future__ import annotations

from flightdeck.platform.errors import AppError, Conflict, NotFound, Unprocessable


class BookingNotFound(NotFound):
    code = "booking_not_found"
    message = "Booking not found"


class BookingNotCancellable(Conflict):
    code = "booking_not_cancellable"


class BookingNotPayable(Conflict):
    code = "booking_not_payable"


class HoldExpired(Conflict):
    code = "hold_expired"
    message = "The seat hold has expired; book again"


class SegmentsNotConsecutive(Unprocessable):
    code = "segments_not_consecutive"


class MixedCurrencies(Unprocessable):
    code = "mixed_currencies"


class InvalidSeatSelection(Unprocessable):
    code = "invalid_seat_selection"


class BookingStoreUnavailable(AppError):
    """The booking store (MongoDB) did not answer; the request's SQL changes roll back."""

    status_code = 503
    code = "booking_store_unavailable"
    message = "Bookings are temporarily unavailable; try again shortly"
