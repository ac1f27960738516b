"""`flightdeck` command line: migrate, seed, create-user, serve, simulate-status,
reconcile-payments, retry-refunds."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Annotated, TypeVar

import typer
from rich.console import Console
from sqlalchemy.ext.asyncio import AsyncSession

from flightdeck.platform.db import create_engine, create_sessionmaker
from flightdeck.platform.errors import AppError
from flightdeck.platform.security.encryption import configure_keyring, load_keyring
from flightdeck.platform.settings import Settings, get_settings

app = typer.Typer(help="FlightDeck: flight schedule management.", no_args_is_help=True)
console = Console()
err_console = Console(stderr=True)

T = TypeVar("T")


async def _in_transaction(settings: Settings, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    configure_keyring(load_keyring(settings))
    engine = create_engine(settings)
    try:
        async with create_sessionmaker(engine)() as session, session.begin():
            return await work(session)
    finally:
        await engine.dispose()


def run_in_transaction(work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Runs `work` in one committed transaction, turning domain errors into a readable exit."""
    try:
        return asyncio.run(_in_transaction(get_settings(), work))
    except AppError as exc:
        err_console.print(f"[red]error:[/red] {exc.message} ({exc.code})")
        raise typer.Exit(code=1) from exc


@app.command()
def migrate() -> None:
    """Create or upgrade the database schema (Alembic migrations)."""
    from flightdeck.platform.migrations import upgrade_database

    settings = get_settings()
    with console.status(f"Migrating {_redact(settings.database_url)} …"):
        upgrade_database(settings)
    console.print("[green]Database is at the latest schema.[/green]")


@app.command()
def seed(
    days: Annotated[int, typer.Option(min=1, max=365, help="Days of schedules to generate")] = 60,
) -> None:
    """Load demo data: airline schedules over the next DAYS days, an admin and an agent."""
    from flightdeck.demo_data import seed_demo_data

    settings = get_settings()
    if settings.is_production:
        err_console.print("[red]error:[/red] refusing to load demo data in production")
        raise typer.Exit(code=1)
    summary = run_in_transaction(
        lambda session: seed_demo_data(session, days=days, console=console)
    )
    console.print(summary)


@app.command("create-user")
def create_user(
    email: Annotated[str, typer.Option(help="E-mail address (the sign-in name)")],
    password: Annotated[str, typer.Option(help="At least 10 characters, not the e-mail")],
    role: Annotated[str, typer.Option(help="passenger, agent or admin")] = "passenger",
    name: Annotated[str | None, typer.Option(help="Full name (default: from the e-mail)")] = None,
) -> None:
    """Create a user of any role (e.g. the first admin)."""
    from flightdeck.users import service as users_service

    if role not in ("passenger", "agent", "admin"):
        err_console.print(f"[red]error:[/red] unknown role {role!r}: use passenger, agent or admin")
        raise typer.Exit(code=2)
    full_name = name or email.split("@", 1)[0]

    async def work(session: AsyncSession) -> str:
        user = await users_service.create_user(
            session, email=email, password=password, full_name=full_name, role=role
        )
        return user.id

    user_id = run_in_transaction(work)
    console.print(f"[green]Created {role} {email}[/green] (id {user_id})")


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to bind")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on")] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes")] = 1,
    reload: Annotated[bool, typer.Option(help="Reload on code changes (development)")] = False,
) -> None:
    """Serve the HTTP API (and /docs)."""
    import uvicorn

    console.print(f"FlightDeck on http://{host}:{port}  (API docs: http://{host}:{port}/docs)")
    uvicorn.run(
        "flightdeck.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        reload=reload,
        # The client address is resolved by the app (platform/client_address.py), from
        # X-Forwarded-For only when the peer is in FLIGHTDECK_TRUSTED_PROXIES; uvicorn's own
        # rewrite would believe the header from 127.0.0.1, whoever sent it.
        proxy_headers=False,
    )


@app.command("simulate-status")
def simulate_status(
    to: Annotated[str, typer.Option(help="webhook or kafka")] = "webhook",
    url: Annotated[str, typer.Option(help="Server base URL (webhook, and to list flights)")] = (
        "http://127.0.0.1:8000"
    ),
    secret: Annotated[
        str | None, typer.Option(help="Webhook secret (default: FLIGHTDECK_STATUS_FEED_SECRET)")
    ] = None,
    bootstrap_servers: Annotated[
        str | None, typer.Option(help="Kafka host:port (default: from the settings)")
    ] = None,
    topic: Annotated[str | None, typer.Option(help="Kafka topic (default: the feed topic)")] = None,
    date: Annotated[
        str | None, typer.Option(help="Service date YYYY-MM-DD (default: today at each origin)")
    ] = None,
    speed: Annotated[float, typer.Option(min=0, help="Seconds between updates")] = 1.0,
    limit: Annotated[int | None, typer.Option(min=1, help="Send at most this many updates")] = None,
    seed: Annotated[int | None, typer.Option(help="Random seed (same seed, same day)")] = None,
) -> None:
    """Play a realistic day of delays, gate changes, departures and a cancellation into the
    status feed (signed webhook or Kafka topic), for demos."""
    import datetime as dt

    from rich.progress import Progress

    from flightdeck.flights import status_simulation as sim

    settings = get_settings()
    try:
        day = dt.date.fromisoformat(date) if date else None
    except ValueError:
        err_console.print(f"[red]error:[/red] --date {date!r} is not YYYY-MM-DD")
        raise typer.Exit(code=2) from None
    try:
        sender: sim.UpdateSender
        if to == "webhook":
            sender = sim.WebhookSender(url, secret or settings.status_feed_secret)
        elif to == "kafka":
            servers = bootstrap_servers or settings.kafka_bootstrap_servers
            sender = sim.KafkaSender(servers, topic or settings.status_feed_topic)
        else:
            err_console.print(f"[red]error:[/red] --to {to!r}: use webhook or kafka")
            raise typer.Exit(code=2)
        plan = sim.plan_day(asyncio.run(sim.load_flights(url, day)), seed)[:limit]
        if not plan:
            when = day.isoformat() if day else "today"
            console.print(f"No scheduled or on-time flights on {when}: nothing to play (--date).")
            return
        with Progress(console=console) as progress:
            task = progress.add_task(f"Status updates → {to}", total=len(plan))

            def report(update: sim.PlannedUpdate, error: str | None) -> None:
                mark = f"[red]✗ {error}[/red]" if error else "[green]✓[/green]"
                progress.console.print(f"{update.summary} {mark}")
                progress.advance(task)

            result = asyncio.run(sim.play(plan, sender, speed=speed, on_update=report))
    except sim.SimulationError as exc:
        err_console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(code=1) from exc
    console.print(f"Sent {len(result.sent)} update(s), {len(result.failed)} refused.")
    if result.failed and not result.sent:
        raise typer.Exit(code=1)


@app.command("reconcile-payments")
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


@app.command("retry-refunds")
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


def _redact(url: str) -> str:
    """The URL without its password, for printing."""
    if "@" not in url or "://" not in url:
        return url
    scheme, rest = url.split("://", 1)
    credentials, host = rest.rsplit("@", 1)
    user = credentials.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host}"


if __name__ == "__main__":
    app()
