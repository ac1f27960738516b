"""What the `flightdeck reconcile-payments` and `flightdeck retry-refunds` commands run: one
pass of the reconciler or of the refund worker, with their own engine and gateway.

The gateway is built from the settings like a server's: with Stripe the command sees every
charge; the sandbox keeps its charges in the memory of the server that made them, so with it
only attempts that never reached the processor can be settled from the command line.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from flightdeck.payments.gateways import build_gateway, configure_gateway
from flightdeck.payments.reconciler import Reconciled, reconcile_payments, stale_after
from flightdeck.payments.refund_worker import RefundOutcome, RefundWorker
from flightdeck.platform.db import create_engine, create_sessionmaker
from flightdeck.platform.security.encryption import configure_keyring, load_keyring
from flightdeck.platform.settings import Settings

T = TypeVar("T")


async def reconcile_once(settings: Settings, older_than: float | None = None) -> list[Reconciled]:
    """Settles the attempts `processing` for longer than `older_than` seconds (default: the
    reconciler's threshold)."""
    age = timedelta(seconds=older_than) if older_than is not None else stale_after(settings)
    return await _with_payments(
        settings, lambda sessionmaker: reconcile_payments(sessionmaker, older_than=age)
    )


async def retry_refunds_once(settings: Settings) -> list[RefundOutcome]:
    """Makes every pending refund now, also those waiting after a failed attempt."""
    return await _with_payments(
        settings, lambda sessionmaker: RefundWorker(sessionmaker).retry_failed()
    )


async def _with_payments(
    settings: Settings, work: Callable[[async_sessionmaker[AsyncSession]], Awaitable[T]]
) -> T:
    configure_keyring(load_keyring(settings))
    engine = create_engine(settings)
    gateway = build_gateway(settings)
    previous = configure_gateway(gateway)
    try:
        return await work(create_sessionmaker(engine))
    finally:
        configure_gateway(previous)
        await gateway.aclose()
        await engine.dispose()
