"""Errors of the admin domain (reports' parameters; the listings use their owners')."""

from __future__ import annotations

from flightdeck.platform.errors import Unprocessable


class UnsupportedGrouping(Unprocessable):
    code = "unsupported_grouping"
    message = "This report cannot be grouped that way"


class PeriodTooLong(Unprocessable):
    code = "period_too_long"
    message = "A report covers at most 366 days"
