"""`flightdeck simulate-status`: a demo client that plays a day of status updates into the
status feed (see `status_simulation`)."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Annotated

import typer
from rich.progress import Progress

from flightdeck.cli import status_simulation as sim
from flightdeck.cli.common import console, err_console
from flightdeck.platform.settings import Settings, get_settings


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
    settings = get_settings()
    day = _service_date(date)
    try:
        sender = _sender(settings, to, url, secret, bootstrap_servers, topic)
        plan = sim.plan_day(asyncio.run(sim.load_flights(url, day)), seed)[:limit]
        if not plan:
            when = day.isoformat() if day else "today"
            console.print(f"No scheduled or on-time flights on {when}: nothing to play (--date).")
            return
        result = _play(plan, sender, to, speed)
    except sim.SimulationError as exc:
        err_console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(code=1) from exc
    console.print(f"Sent {len(result.sent)} update(s), {len(result.failed)} refused.")
    if result.failed and not result.sent:
        raise typer.Exit(code=1)


def _service_date(date: str | None) -> dt.date | None:
    try:
        return dt.date.fromisoformat(date) if date else None
    except ValueError:
        err_console.print(f"[red]error:[/red] --date {date!r} is not YYYY-MM-DD")
        raise typer.Exit(code=2) from None


def _sender(
    settings: Settings,
    to: str,
    url: str,
    secret: str | None,
    bootstrap_servers: str | None,
    topic: str | None,
) -> sim.UpdateSender:
    if to == "webhook":
        return sim.WebhookSender(url, secret or settings.status_feed_secret)
    if to == "kafka":
        servers = bootstrap_servers or settings.kafka_bootstrap_servers
        return sim.KafkaSender(servers, topic or settings.status_feed_topic)
    err_console.print(f"[red]error:[/red] --to {to!r}: use webhook or kafka")
    raise typer.Exit(code=2)


def _play(
    plan: list[sim.PlannedUpdate], sender: sim.UpdateSender, to: str, speed: float
) -> sim.SimulationResult:
    with Progress(console=console) as progress:
        task = progress.add_task(f"Status updates → {to}", total=len(plan))

        def report(update: sim.PlannedUpdate, error: str | None) -> None:
            mark = f"[red]✗ {error}[/red]" if error else "[green]✓[/green]"
            progress.console.print(f"{update.summary} {mark}")
            progress.advance(task)

        return asyncio.run(sim.play(plan, sender, speed=speed, on_update=report))
