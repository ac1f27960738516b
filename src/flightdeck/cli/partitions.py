"""`flightdeck partitions`: the monthly partitions of the tables that only grow."""

from __future__ import annotations

import asyncio
from functools import partial
from typing import Annotated

import typer
from rich.progress import BarColumn, Progress, TextColumn
from rich.table import Table
from sqlalchemy.engine import Connection

from flightdeck.cli.common import console, err_console
from flightdeck.data_layout import PARTITIONS, Partitioned
from flightdeck.platform.clock import utcnow
from flightdeck.platform.db import create_engine
from flightdeck.platform.partitions import Maintenance, maintain
from flightdeck.platform.settings import Settings, get_settings


async def _maintain_all(
    settings: Settings, months_ahead: int, dry_run: bool, progress: Progress
) -> list[Maintenance]:
    engine = create_engine(settings)
    task = progress.add_task("partitions", total=len(PARTITIONS))
    results = []
    try:
        for spec in PARTITIONS:
            progress.update(task, description=spec.table)
            work = partial(
                _maintain_one, spec=spec, months_ahead=months_ahead,
                retention_days=_retention_days(settings, spec),
            )  # fmt: skip
            async with engine.connect() as conn, conn.begin() as transaction:
                results.append(await conn.run_sync(work))
                if dry_run:
                    await transaction.rollback()  # what it would do, done and undone
            progress.advance(task)
    finally:
        await engine.dispose()
    return results


def _maintain_one(
    conn: Connection, *, spec: Partitioned, months_ahead: int, retention_days: int
) -> Maintenance:
    return maintain(
        conn, spec.table, spec.key, now=utcnow(), months_ahead=months_ahead,
        retention_days=retention_days, keep_while=spec.keep_while,
    )  # fmt: skip


def _retention_days(settings: Settings, spec: Partitioned) -> int:
    days: int = getattr(settings, f"retention_{spec.retention}_days")
    return days


def _table_names() -> list[str]:
    return [spec.table for spec in PARTITIONS]


def _months(names: list[str]) -> str:
    """["outbox_events_p202701", …] → "3: 2027-01 … 2027-03" ("-" for none)."""
    months = sorted(f"{name[-6:-2]}-{name[-2:]}" for name in names)
    if not months:
        return "-"
    span = months[0] if len(months) == 1 else f"{months[0]} … {months[-1]}"
    return f"{len(months)}: {span}"


def _summary(results: list[Maintenance], settings: Settings, dry_run: bool) -> Table:
    title = "Monthly partitions (dry run: nothing changed)" if dry_run else "Monthly partitions"
    table = Table(title=title)
    table.add_column("table", no_wrap=True, min_width=len(max(_table_names(), key=len)))
    for column in ("kept", "created", "dropped", "expired, kept", "now"):
        table.add_column(column, justify="right")
    by_table = {spec.table: spec for spec in PARTITIONS}
    for result in results:
        days = _retention_days(settings, by_table[result.table])
        table.add_row(
            result.table,
            f"{days} d" if days else "ever",
            _months(result.created),
            _months(result.dropped),
            _months(result.kept),
            str(result.partitions),
        )
    return table


def partitions(
    months_ahead: Annotated[
        int, typer.Option(min=0, max=36, help="Months to have partitions for after this one")
    ] = 3,
    dry_run: Annotated[bool, typer.Option(help="Show what would change; change nothing")] = False,
) -> None:
    """Create the coming months' partitions of the tables that only grow (outbox, processed
    events, status history, audit log) and drop the months older than their retention (the
    FLIGHTDECK_RETENTION_*_DAYS settings), never one still holding unpublished events.
    PostgreSQL only; run it daily (a cron job, or the Kubernetes CronJob in deploy/k8s)."""
    settings = get_settings()
    if settings.is_sqlite:
        console.print("SQLite keeps these tables whole: nothing to partition.")
        return
    columns = (
        TextColumn("{task.description:<24}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
    )
    with Progress(*columns, console=console, transient=True) as progress:
        try:
            results = asyncio.run(_maintain_all(settings, months_ahead, dry_run, progress))
        except LookupError as exc:
            err_console.print(f"[red]error:[/red] {exc}")
            raise typer.Exit(code=1) from exc
    console.print(_summary(results, settings, dry_run))
