"""`flightdeck` command line. Each command lives in the module of its topic; this is the list."""

from __future__ import annotations

import typer

from flightdeck.cli import database, demo, partitions, payments, server, ssim

app = typer.Typer(help="FlightDeck: flight schedule management.", no_args_is_help=True)

app.command()(database.migrate)
app.command()(database.seed)
app.command("create-user")(database.create_user)
app.command()(server.serve)
app.command("simulate-status")(demo.simulate_status)
app.command("reconcile-payments")(payments.reconcile_payments)
app.command("retry-refunds")(payments.retry_refunds)
app.command()(partitions.partitions)
app.command("import-ssim")(ssim.import_ssim)
app.command("export-ssim")(ssim.export_ssim)
