"""Errors of the payments domain."""

from __future__ import annotations

from flightdeck.platform.errors import (
    AppError,
    Conflict,
    FeatureNotConfigured,
    NotFound,
    Unprocessable,
)


class PaymentNotFound(NotFound):
    code = "payment_not_found"
    message = "Payment not found"


class PaymentInProgress(Conflict):
    code = "payment_in_progress"
    message = "Another payment for this booking is being processed"


class PaymentNotConfirmable(Conflict):
    code = "payment_not_confirmable"
    message = "Only a payment that requires action can be confirmed"


class AmountMismatch(Unprocessable):
    code = "amount_mismatch"
    message = "The amount must equal the booking's total"


class PaymentGatewayUnavailable(AppError):
    """The gateway timed out, failed, or the breaker is open: nothing was charged."""

    status_code = 503
    code = "payment_gateway_unavailable"
    message = "The payment processor is unavailable; nothing was charged, try again shortly"


class InvalidSignature(AppError):
    status_code = 400
    code = "invalid_signature"
    message = "The webhook signature is missing or does not match"


class StaleWebhook(AppError):
    status_code = 400
    code = "stale_webhook"
    message = "The webhook timestamp is more than five minutes old"


class UnknownProvider(NotFound):
    code = "unknown_payment_provider"
    message = "No such payment provider"


class PaymentWebhooksDisabled(FeatureNotConfigured):
    message = "Payment webhooks are not configured on this server (no webhook secret)"


class BookingAlreadyPaid(Conflict):
    code = "booking_not_payable"
    message = "This booking has already been paid"
