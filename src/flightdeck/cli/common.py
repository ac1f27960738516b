"""What every command shares: the consoles, one transaction, readable errors."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

import typer
from rich.console import Console
from sqlalchemy.ext.asyncio import AsyncSession

from flightdeck.platform.db import create_engine, create_sessionmaker
from flightdeck.platform.errors import AppError
from flightdeck.platform.security.encryption import configure_keyring, load_keyring
from flightdeck.platform.security.passwords import use_hashing_cost
from flightdeck.platform.settings import Settings, get_settings

console = Console()
err_console = Console(stderr=True)

T = TypeVar("T")


async def _in_transaction(settings: Settings, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    configure_keyring(load_keyring(settings))
    use_hashing_cost(settings.password_hashing)  # create-user hashes a password
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


def redact(url: str) -> str:
    """The URL without its password, for printing."""
    if "@" not in url or "://" not in url:
        return url
    scheme, rest = url.split("://", 1)
    credentials, host = rest.rsplit("@", 1)
    user = credentials.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host}"
