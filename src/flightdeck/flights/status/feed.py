"""External status feed: updates from outside systems (airport operations, a partner airline)
by flight number and service date, from the signed webhook or the Kafka topic.

Webhook signature: `X-FlightDeck-Timestamp: <unix seconds>` and
`X-FlightDeck-Signature: sha256=<hex>` where hex is HMAC-SHA256 over `timestamp + "." + body`
with `settings.status_feed_secret`; requests older (or newer) than five minutes are refused.
Every update goes through `status_service.update_flight_status` with `source="feed:<source>"`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
from typing import Annotated

from pydantic import BaseModel, Field, StringConstraints, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from flightdeck.flights import repository
from flightdeck.flights.errors import FlightNotFound
from flightdeck.flights.schemas import AirportCode, FlightNumber, FlightStatus
from flightdeck.flights.status.schemas import (
    MAX_DELAY_MINUTES,
    FlightStatusUpdate,
    GateCode,
    Remark,
)
from flightdeck.flights.status.service import StatusUpdateResult, update_flight_status
from flightdeck.platform.bounds import FlightDate, FlightInstant
from flightdeck.platform.clock import utcnow
from flightdeck.platform.errors import AppError, FeatureNotConfigured, Unprocessable

TIMESTAMP_HEADER = "X-FlightDeck-Timestamp"
SIGNATURE_HEADER = "X-FlightDeck-Signature"
SIGNATURE_PREFIX = "sha256="
MAX_AGE = dt.timedelta(minutes=5)
MAX_BODY_BYTES = 64 * 1024

FeedSource = Annotated[
    str, StringConstraints(strip_whitespace=True, to_lower=True, pattern=r"^[A-Za-z0-9_.-]{1,40}$")
]


class InvalidSignature(AppError):
    status_code = 400
    code = "invalid_signature"
    message = "The request signature is missing or does not match"


class StaleRequest(AppError):
    status_code = 400
    code = "stale_request"
    message = "The request timestamp is more than five minutes away from now"


class StatusFeedDisabled(FeatureNotConfigured):
    message = "The status feed webhook is not configured on this server (no secret)"


class StatusFeedUpdate(BaseModel):
    """One update from an outside system; `date` is the local service date at the origin."""

    flight_number: FlightNumber = Field(examples=["FD101"])
    date: FlightDate
    origin: AirportCode | None = Field(
        default=None,
        description="The leg's origin: needed when several legs of a multi-leg "
        "flight depart on that date",
    )
    status: FlightStatus
    estimated_departure: FlightInstant | None = None
    gate: GateCode | None = None
    terminal: GateCode | None = None
    delay_minutes: int | None = Field(default=None, ge=0, le=MAX_DELAY_MINUTES)
    remark: Remark | None = None
    source: FeedSource = Field(examples=["ops-jfk"])

    def to_status_update(self) -> FlightStatusUpdate:
        """The status-service update; gate/terminal left out keep their value."""
        fields = self.model_dump(
            include={
                "status",
                "estimated_departure",
                "gate",
                "terminal",
                "delay_minutes",
                "remark",
            },
            exclude_unset=True,
        )
        fields["status"] = self.status
        return FlightStatusUpdate(**fields)


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The `X-FlightDeck-Signature` value for this timestamp and raw body."""
    message = timestamp.encode() + b"." + body
    return SIGNATURE_PREFIX + hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def signed_headers(secret: str, body: bytes, timestamp: int | None = None) -> dict[str, str]:
    """Headers a sender puts on a webhook request (the simulator, tests)."""
    stamp = str(timestamp if timestamp is not None else int(utcnow().timestamp()))
    return {
        TIMESTAMP_HEADER: stamp,
        SIGNATURE_HEADER: sign(secret, stamp, body),
        "Content-Type": "application/json",
    }


def verify_signature(
    secret: str, timestamp: str | None, signature: str | None, body: bytes
) -> None:
    """404 `feature_not_configured` without a secret; 400 `invalid_signature` unless the
    signature matches; 400 `stale_request` when the (authentic) timestamp is more than five
    minutes off."""
    if not secret:
        raise StatusFeedDisabled()
    if not timestamp or not signature or not timestamp.strip().isdigit():
        raise InvalidSignature()
    if not hmac.compare_digest(sign(secret, timestamp.strip(), body), signature.strip()):
        raise InvalidSignature()
    now = utcnow().timestamp()
    if abs(now - int(timestamp)) > MAX_AGE.total_seconds():
        raise StaleRequest(details={"timestamp": timestamp.strip()})


def parse_update(body: bytes) -> StatusFeedUpdate:
    """The update in a JSON body; 422 `validation_error` naming the first bad field."""
    if len(body) > MAX_BODY_BYTES:
        raise Unprocessable("body: too large", details={"field": "body"})
    try:
        data = json.loads(body)
        return StatusFeedUpdate.model_validate(data)
    except (ValueError, RecursionError) as exc:  # RecursionError: nested too deeply
        if isinstance(exc, ValidationError) and exc.errors():
            error = exc.errors()[0]
            field = ".".join(str(part) for part in error["loc"]) or "body"
            raise Unprocessable(f"{field}: {error['msg']}", details={"field": field}) from exc
        raise Unprocessable("body: not a JSON object", details={"field": "body"}) from exc


async def apply_feed_update(session: AsyncSession, update: StatusFeedUpdate) -> StatusUpdateResult:
    """Finds the flight by number and service date, and origin for a multi-leg flight (404
    `flight_not_found`, 422 `ambiguous_flight` when several legs match) and applies the update
    as `feed:<source>` (409 on a transition the rules refuse, 422 on bad fields)."""
    legs = await repository.find_flights_by_number(
        session, update.flight_number, update.date, update.origin
    )
    details = {"flight_number": update.flight_number, "date": update.date.isoformat()}
    if not legs:
        raise FlightNotFound(
            f"No flight {update.flight_number} on {update.date.isoformat()}", details=details
        )
    if len(legs) > 1:
        origins = [leg.origin for leg in legs]
        raise Unprocessable(
            f"origin: {update.flight_number} has {len(legs)} legs departing on "
            f"{update.date.isoformat()} (from {', '.join(origins)}); name the leg's origin",
            code="ambiguous_flight",
            details={**details, "field": "origin", "origins": origins},
        )
    flight = legs[0]
    return await update_flight_status(
        session,
        flight.id,
        update.to_status_update(),
        actor_id=None,
        source=f"feed:{update.source}",
    )


async def apply_signed_update(
    session: AsyncSession,
    secret: str,
    *,
    timestamp: str | None,
    signature: str | None,
    body: bytes,
) -> StatusUpdateResult:
    """The webhook: verifies the signature and age, parses and applies the update."""
    verify_signature(secret, timestamp, signature, body)
    return await apply_feed_update(session, parse_update(body))
