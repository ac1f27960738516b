"""What the payments domain adds to a running server.

Router: `/payments` (with 3-D Secure confirmation and the signed webhooks). Hook: a cancelled
paid booking queues its refund in the cancellation's transaction (registered with the bookings
service). Resource: the payment gateway (sandbox or Stripe, behind timeouts and a circuit
breaker). Workers: the reconciler (payments whose processor answer was lost) and the refund
worker (woken by the commit that queued a refund).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from flightdeck.bookings.service import register_refund_handler
from flightdeck.payments.gateways import build_gateway, configure_gateway
from flightdeck.payments.reconciler import build_payment_reconciler
from flightdeck.payments.refund_worker import build_refund_worker
from flightdeck.payments.refunds import refund_booking_payment
from flightdeck.payments.router import router
from flightdeck.platform.modules import DomainModule, Runtime, Worker


def _refund_cancelled_bookings() -> None:
    register_refund_handler(refund_booking_payment)


@asynccontextmanager
async def payment_gateway(runtime: Runtime) -> AsyncIterator[None]:
    runtime.app.state.payment_gateway = gateway = build_gateway(runtime.settings)
    previous = configure_gateway(gateway)
    try:
        yield
    finally:
        configure_gateway(previous)
        await gateway.aclose()


def _reconciler(runtime: Runtime) -> Worker | None:
    return build_payment_reconciler(runtime.sessionmaker, runtime.settings)


def _refund_worker(runtime: Runtime) -> Worker | None:
    return build_refund_worker(runtime.sessionmaker, runtime.settings)


module = DomainModule(
    name="payments",
    routers=(router,),
    hooks=(_refund_cancelled_bookings,),
    resources=(payment_gateway,),
    workers=(_reconciler, _refund_worker),
)
