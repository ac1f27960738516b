"""Runs the Alembic migrations programmatically (`flightdeck migrate`, tests)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

from flightdeck.platform.settings import Settings


def _alembic_ini() -> Path:
    # The migrations live beside src/ in the checkout the package is installed from.
    for base in (Path.cwd(), Path(__file__).resolve().parents[3]):
        if (base / "alembic.ini").exists():
            return base / "alembic.ini"
    raise RuntimeError("alembic.ini not found: run from the FlightDeck checkout")


def alembic_config(settings: Settings) -> Config:
    config = Config(str(_alembic_ini()))
    config.attributes["database_url"] = settings.database_url
    return config


def upgrade_database(settings: Settings, revision: str = "head") -> None:
    command.upgrade(alembic_config(settings), revision)
