"""Running the `flightdeck` CLI from the tests, in this process, on the suite's database."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from click.testing import Result
from typer.testing import CliRunner

from flightdeck.cli import app as cli
from flightdeck.platform.settings import Settings, get_settings

runner = CliRunner()


async def invoke(args: Sequence[str]) -> Result:
    """Runs the CLI in a worker thread: it starts its own event loop, as it does for users."""
    return await asyncio.to_thread(runner.invoke, cli, list(args))


@contextlib.contextmanager
def cli_on_database(
    settings: Settings, directory: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[None]:
    """Points the CLI at the settings' database and keys, run in `directory`."""
    monkeypatch.chdir(directory)
    monkeypatch.setenv("FLIGHTDECK_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("FLIGHTDECK_ENCRYPTION_KEYS", settings.encryption_keys)
    get_settings.cache_clear()
    try:
        yield
    finally:
        get_settings.cache_clear()
