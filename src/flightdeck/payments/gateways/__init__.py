"""Payment gateways: one interface (`base.PaymentGateway`), a sandbox and Stripe, and the
gateway this process uses (`configure_gateway` / `get_gateway`, set by the app's lifespan)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flightdeck.payments.breaker import GuardedGateway
    from flightdeck.payments.gateways.base import PaymentGateway
    from flightdeck.platform.settings import Settings

_gateway: PaymentGateway | None = None


def build_gateway(settings: Settings) -> GuardedGateway:
    """The configured processor (sandbox or Stripe) behind timeouts and a circuit breaker,
    shared by every instance through Redis when `redis_url` is set."""
    from flightdeck.payments.breaker import GuardedGateway

    inner: PaymentGateway
    if settings.payment_gateway == "stripe":
        from flightdeck.payments.gateways.stripe_gateway import StripeGateway

        inner = StripeGateway(
            api_key=settings.stripe_api_key,
            api_base=settings.stripe_api_base,
            webhook_secret=settings.payment_webhook_secret,
        )
    else:
        from flightdeck.payments.gateways.sandbox import SandboxGateway

        inner = SandboxGateway(webhook_secret=settings.payment_webhook_secret)
    return GuardedGateway(
        inner,
        timeout_seconds=settings.gateway_timeout_seconds,
        threshold=settings.gateway_breaker_threshold,
        reset_seconds=settings.gateway_breaker_reset_seconds,
        store_url=settings.redis_url,
    )


def configure_gateway(gateway: PaymentGateway | None) -> PaymentGateway | None:
    """Makes `gateway` the one `get_gateway()` returns; returns the previous one."""
    global _gateway
    previous, _gateway = _gateway, gateway
    return previous


def get_gateway() -> PaymentGateway:
    if _gateway is None:
        raise RuntimeError("no payment gateway configured (the app's lifespan sets one)")
    return _gateway
