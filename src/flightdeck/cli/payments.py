"""Payment recovery commands: reconcile-payments, retry-refunds."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer

from flightdeck.cli.common import console
from flightdeck.platform.settings import get_settings


def reconcile_payments(
    older_than: Annotated[
        float | None,
        typer.Option(
            min=0,
            help="Settle attempts processing for longer than this many seconds (default: "
            "FLIGHTDECK_PAYMENT_RECONCILE_AFTER_SECONDS, else twice the gateway timeout)",
        ),
    ] = None,
) -> None:
    """Settle payments left `processing` (the processor's answer was lost): ask the processor
    and confirm, fail or cancel each, like the servers' reconciler; prints what it resolved."""
    from flightdeck.payments.commands import reconcile_once

    results = asyncio.run(reconcile_once(get_settings(), older_than))
    for result in results:
        console.print(
            f"payment {result.payment_id}: [bold]{result.status}[/bold] ({result.detail})",
            soft_wrap=True,
        )
    console.print(f"{len(results)} payment(s) looked at." if results else "Nothing to reconcile.")


def retry_refunds() -> None:
    """Make every pending refund now, also those waiting after a gateway failure; prints the
    outcome of each (the servers' refund workers do this on their own)."""
    from flightdeck.payments.commands import retry_refunds_once

    outcomes = asyncio.run(retry_refunds_once(get_settings()))
    for outcome in outcomes:
        amount = f"{outcome.amount.amount / 100:.2f} {outcome.amount.currency}"
        detail = f" ({outcome.detail})" if outcome.detail else ""
        console.print(
            f"refund {outcome.refund_id} of payment {outcome.payment_id}, {amount}: "
            f"[bold]{outcome.outcome}[/bold]{detail}",
            soft_wrap=True,
        )
    console.print(f"{len(outcomes)} refund(s) attempted." if outcomes else "No refund pending.")
