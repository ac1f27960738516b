"""SSIM files on the command line: import-ssim and export-ssim.

Both stream: the import reads the file a line at a time and stores it in batches (memory does
not grow with the file), the export writes a page of schedules at a time. The import runs in
one transaction: a file loads whole or not at all.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Annotated

import typer
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from sqlalchemy.ext.asyncio import AsyncSession

from flightdeck.cli.common import err_console, run_in_transaction
from flightdeck.flights.schedules.schemas import ScheduleImportResult

# The summary lists this many rejected lines and warnings; the counts cover them all.
SHOWN_LINES = 50
Carrier = Annotated[
    str | None,
    typer.Option(help="Airline designator: only this airline's legs (import) or flights (export)"),
]


def _lines(file: IO[bytes], progress: Progress, task: TaskID) -> Iterator[bytes]:
    read = 0
    for number, line in enumerate(file, start=1):
        read += len(line)
        if number % 500 == 0:
            progress.update(task, completed=read)
        yield line
    progress.update(task, completed=read)


def import_ssim(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="SSIM chapter 7 file")],
    carrier: Carrier = None,
    default_fare_amount: Annotated[
        int, typer.Option(min=0, help="Economy fare in minor units (other cabins: multiples)")
    ] = 10_000,
    currency: Annotated[str, typer.Option(help="Currency of the fares")] = "USD",
) -> None:
    """Import an SSIM file of any size: good legs load, bad lines are listed with the field
    at fault."""
    from flightdeck.flights.schedules.importer import (
        ImportOptions,
        decode_lines,
        import_ssim_lines,
    )
    from flightdeck.flights.schedules.ssim.legs import Fares

    options = ImportOptions(
        fares=Fares(default_fare_amount, currency.upper()),
        carrier=carrier.upper() if carrier else None,
    )
    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        DownloadColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=err_console,
    )
    with progress, file.open("rb") as source:
        task = progress.add_task(f"Importing {file.name}", total=file.stat().st_size)

        async def work(session: AsyncSession) -> ScheduleImportResult:
            lines = decode_lines(_lines(source, progress, task))
            return await import_ssim_lines(session, lines, None, options)

        result = run_in_transaction(work)
    _print_import_summary(result)


def _print_import_summary(result: ScheduleImportResult) -> None:
    summary = Table(title="SSIM import", show_header=True)
    summary.add_column("")
    summary.add_column("schedules", justify="right")
    summary.add_column("dated flights", justify="right")
    summary.add_row("created", f"{result.schedules_created:,}", f"{result.flights_created:,}")
    summary.add_row("skipped", f"{result.schedules_skipped:,}", f"{result.flights_skipped:,}")
    summary.add_row("legs of other carriers", f"{result.legs_of_other_carriers:,}", "")
    summary.add_row("warnings (lines)", f"{len(result.warnings):,}", "")
    summary.add_row("rejected (lines)", f"{len(result.rejected):,}", "")
    err_console.print(summary)
    err_console.print(
        f"carriers: {', '.join(result.carriers) or 'none'}; time mode: {result.time_mode or '-'}"
    )
    for title, rows in (
        ("Rejected lines", [(r.line_number, r.reason) for r in result.rejected]),
        ("Warnings", [(w.line_number, w.warning) for w in result.warnings]),
    ):
        if not rows:
            continue
        table = Table(title=title)
        table.add_column("line", justify="right")
        table.add_column("reason" if title.startswith("Rejected") else "warning")
        for line_number, text in rows[:SHOWN_LINES]:
            table.add_row(str(line_number), text)
        if len(rows) > SHOWN_LINES:
            table.add_row("…", f"and {len(rows) - SHOWN_LINES:,} more")
        err_console.print(table)


def export_ssim(
    carrier: Carrier = None,
    first: Annotated[
        dt.datetime | None,
        typer.Option("--from", formats=["%Y-%m-%d"], help="First flight date (YYYY-MM-DD)"),
    ] = None,
    last: Annotated[
        dt.datetime | None,
        typer.Option("--to", formats=["%Y-%m-%d"], help="Last flight date (YYYY-MM-DD)"),
    ] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="File to write (default: stdout)")
    ] = None,
) -> None:
    """Export the schedules FlightDeck holds as an SSIM chapter 7 file."""
    from flightdeck.flights.schedules.exporter import (
        ExportStats,
        check_export_window,
        export_lines,
    )

    window = (first.date() if first else None, last.date() if last else None)
    stats = ExportStats()
    progress = Progress(
        SpinnerColumn(),
        TextColumn("[bold]{task.description}"),
        TextColumn("{task.completed:,} leg records"),
        TimeElapsedColumn(),
        console=err_console,
    )
    opened = output.open("w", encoding="ascii") if output else contextlib.nullcontext(sys.stdout)
    with progress, opened as target:
        task = progress.add_task("Exporting", total=None)

        async def work(session: AsyncSession) -> int:
            check_export_window(*window)
            written = 0
            async for line in export_lines(
                session,
                carrier=carrier.upper() if carrier else None,
                first=window[0],
                last=window[1],
                stats=stats,
            ):
                target.write(line)
                written += len(line)
                progress.update(task, completed=stats.leg_records)
            return written

        size = run_in_transaction(work)
    summary = Table(title="SSIM export")
    summary.add_column("carriers")
    summary.add_column("itinerary variations", justify="right")
    summary.add_column("leg records", justify="right")
    summary.add_column("bytes", justify="right")
    summary.add_row(
        ", ".join(stats.carriers), f"{stats.variations:,}", f"{stats.leg_records:,}", f"{size:,}"
    )
    err_console.print(summary)
