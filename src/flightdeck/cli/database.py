"""Database commands: migrate, seed, create-user."""

from __future__ import annotations

from typing import Annotated

import typer
from sqlalchemy.ext.asyncio import AsyncSession

from flightdeck.cli.common import console, err_console, redact, run_in_transaction
from flightdeck.platform.settings import get_settings


def migrate() -> None:
    """Create or upgrade the database schema (Alembic migrations)."""
    from flightdeck.platform.migrations import upgrade_database

    settings = get_settings()
    with console.status(f"Migrating {redact(settings.database_url)} …"):
        upgrade_database(settings)
    console.print("[green]Database is at the latest schema.[/green]")


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
