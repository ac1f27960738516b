"""Payment tests: the app's gateway is swapped for a fresh sandbox with a short timeout, a
small breaker threshold and a known webhook secret (`sandbox` fixture)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
import pytest_asyncio
from fastapi import FastAPI

from flightdeck.payments.breaker import GuardedGateway
from flightdeck.payments.gateways import configure_gateway
from flightdeck.payments.gateways.base import PaymentGateway
from flightdeck.payments.gateways.sandbox import SandboxGateway
from flightdeck.payments.gateways.stripe_gateway import StripeGateway
from flightdeck.payments.refund_worker import RefundWorker
from tests.payments.localstripe_server import API_KEY
from tests.servers.redis import RedisServer

WEBHOOK_SECRET = "whsec_test_" + "s" * 24
GATEWAY_TIMEOUT = 0.3
BREAKER_THRESHOLD = 3
BREAKER_RESET = 0.5


def guarded(inner: PaymentGateway, *, threshold: int = BREAKER_THRESHOLD) -> GuardedGateway:
    return GuardedGateway(
        inner,
        timeout_seconds=GATEWAY_TIMEOUT,
        threshold=threshold,
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


@pytest.fixture
def patient_sandbox(app: FastAPI) -> Iterator[SandboxGateway]:
    """Like `sandbox`, behind a breaker that does not open during the test (outage tests
    that must reach the processor again as soon as it is back)."""
    inner = SandboxGateway(webhook_secret=WEBHOOK_SECRET)
    previous = configure_gateway(guarded(inner, threshold=1000))
    try:
        yield inner
    finally:
        configure_gateway(previous)


@pytest_asyncio.fixture(loop_scope="session")
async def refund_worker(app: FastAPI) -> AsyncIterator[RefundWorker]:
    """The app's refund worker, its background loop stopped: the test runs each pass."""
    worker: RefundWorker = app.state.workers["refund-worker"]
    await worker.stop()
    try:
        yield worker
    finally:
        worker.start()


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """A Redis server for the session (the shared circuit breaker's store)."""
    from tests.servers.redis import running_redis

    with running_redis() as server:
        yield server


@pytest.fixture(scope="session")
def localstripe_url() -> Iterator[str]:
    """A localstripe server for the session (started on first use)."""
    from tests.payments.localstripe_server import running_localstripe

    with running_localstripe() as url:
        yield url


@pytest.fixture
def stripe_gateway(localstripe_url: str) -> StripeGateway:
    """The Stripe adapter, talking to localstripe."""
    return StripeGateway(api_key=API_KEY, api_base=localstripe_url, webhook_secret=WEBHOOK_SECRET)


@pytest.fixture
def stripe_behind_api(app: FastAPI, stripe_gateway: StripeGateway) -> Iterator[StripeGateway]:
    """The app pays through Stripe (localstripe) for this test; webhooks are `/stripe`."""
    previous = configure_gateway(guarded(stripe_gateway))
    try:
        yield stripe_gateway
    finally:
        configure_gateway(previous)
