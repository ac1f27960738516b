"""HTTP routes of payments: POST /payments, GET /payments/{id}, POST /payments/{id}/confirm,
POST /payments/webhooks/{provider}."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, status
from fastapi.responses import Response

from flightdeck.bookings.errors import BookingNotFound, BookingNotPayable, HoldExpired
from flightdeck.payments import service, webhooks
from flightdeck.payments.errors import (
    AmountMismatch,
    BookingAlreadyPaid,
    InvalidSignature,
    PaymentGatewayUnavailable,
    PaymentInProgress,
    PaymentNotConfirmable,
    PaymentNotFound,
    PaymentWebhooksDisabled,
    StaleWebhook,
    UnknownProvider,
)
from flightdeck.payments.gateways import get_gateway
from flightdeck.payments.gateways.base import PaymentGateway
from flightdeck.payments.schemas import PaymentCreate, PaymentRead, WebhookAck
from flightdeck.platform.db import DbSession
from flightdeck.platform.errors import Unauthorized, error_responses
from flightdeck.platform.idempotency import (
    IdempotencyKeyHeader,
    IdempotencyKeyReused,
    IdempotencyRequestInProgress,
    request_fingerprint,
    run_idempotent,
)
from flightdeck.platform.security.auth import CurrentPrincipal
from flightdeck.platform.text import ResourceId

router = APIRouter(tags=["payments"])


async def _gateway_dependency() -> PaymentGateway:
    return get_gateway()


Gateway = Annotated[PaymentGateway, Depends(_gateway_dependency)]


@router.post(
    "/payments",
    status_code=status.HTTP_201_CREATED,
    response_model=PaymentRead,
    responses={
        202: {
            "model": PaymentRead,
            "description": "The processor's answer was lost: status `processing`, settled "
            "shortly by the reconciler (read it with GET /payments/{id}); the booking cannot "
            "be paid again meanwhile (409 `payment_in_progress`)",
        },
        **error_responses(
            Unauthorized,
            BookingNotFound,
            PaymentInProgress,
            BookingAlreadyPaid,
            BookingNotPayable,
            HoldExpired,
            IdempotencyKeyReused,
            IdempotencyRequestInProgress,
            AmountMismatch,
            422,
            PaymentGatewayUnavailable,
        ),
    },
)
async def create_payment(
    data: PaymentCreate,
    session: DbSession,
    principal: CurrentPrincipal,
    gateway: Gateway,
    idempotency_key: IdempotencyKeyHeader = None,
) -> Response:
    """Pay a booking on hold (201 also when declined: status `failed` with `failure_code`;
    202 `processing` when the outcome is not known yet)."""
    scope = service.claim_scope(principal.user_id)
    claim = service.IdempotencyClaim(scope, idempotency_key) if idempotency_key else None

    async def pay() -> tuple[int, object]:
        payment = await service.create_payment(
            session, principal, data, gateway=gateway, claim=claim
        )
        accepted = payment.status == "processing"
        code = status.HTTP_202_ACCEPTED if accepted else status.HTTP_201_CREATED
        return code, payment

    outcome = await run_idempotent(
        session,
        scope=scope,
        key=idempotency_key,
        fingerprint=request_fingerprint(data.fingerprint_body()),
        produce=pay,
    )
    return outcome.response()


@router.get("/payments/{payment_id}", responses=error_responses(Unauthorized, PaymentNotFound))
async def get_payment(
    payment_id: ResourceId, session: DbSession, principal: CurrentPrincipal
) -> PaymentRead:
    """One payment: its owner and admins."""
    return await service.get_payment(session, principal, payment_id)


@router.post(
    "/payments/{payment_id}/confirm",
    responses=error_responses(
        Unauthorized, PaymentNotFound, PaymentNotConfirmable, PaymentGatewayUnavailable
    ),
)
async def confirm_payment(
    payment_id: ResourceId, session: DbSession, principal: CurrentPrincipal, gateway: Gateway
) -> PaymentRead:
    """Complete a payment that requires action (3-D Secure passed)."""
    return await service.confirm_payment(session, principal, payment_id, gateway=gateway)


@router.post(
    "/payments/webhooks/{provider}",
    responses=error_responses(
        InvalidSignature, StaleWebhook, UnknownProvider, PaymentWebhooksDisabled
    ),
)
async def payment_webhook(
    provider: str, request: Request, session: DbSession, gateway: Gateway
) -> WebhookAck:
    """A signed event from the payment processor; a replayed event is ignored."""
    event = webhooks.verify_event(gateway, provider, await request.body(), request.headers)
    return WebhookAck(status=await webhooks.handle_event(session, provider, event))
