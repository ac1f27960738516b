"""Payment tests: the app's gateway is swapped for a fresh sandbox with a short timeout, a
small breaker threshold and a known webhook secret (`sandbox` fixture)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi import FastAPI

from flightdeck.payments.breaker import GuardedGateway
from flightdeck.payments.gateways import configure_gateway
from flightdeck.payments.gateways.base import PaymentGateway
from flightdeck.payments.gateways.sandbox import SandboxGateway

WEBHOOK_SECRET = "whsec_test_" + "s" * 24
GATEWAY_TIMEOUT = 0.3
BREAKER_THRESHOLD = 3
BREAKER_RESET = 0.5


def guarded(inner: PaymentGateway) -> GuardedGateway:
    return GuardedGateway(
        inner,
        timeout_seconds=GATEWAY_TIMEOUT,
        threshold=BREAKER_THRESHOLD,
        reset_seconds=BREAKER_RESET,
    )


@pytest.fixture
def sandbox(app: FastAPI) -> Iterator[SandboxGateway]:
    """The processor behind the API for this test (its charges can be inspected)."""
    inner = SandboxGateway(webhook_secret=WEBHOOK_SECRET)
    previous = configure_gateway(guarded(inner))
    try:
        yield inner
    finally:
        configure_gateway(previous)


@pytest.fixture(scope="session")
def localstripe_url() -> Iterator[str]:
    """A localstripe server for the session (started on first use)."""
    from tests.payments.localstripe_server import running_localstripe

    with running_localstripe() as url:
        yield url
