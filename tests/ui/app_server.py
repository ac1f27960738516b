"""The FlightDeck server the app's browser tests use: one process per session on a free port
(tests/servers/flightdeck_app.py), its SQLite schema migrated, an agent and an admin created,
and one JFK→LHR flight on sale. All start-up of the UI tests is here, so it folds
onto the suite's shared server helpers in one place."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import secrets
import tempfile
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx

from flightdeck.platform.db import create_engine, create_sessionmaker
from flightdeck.platform.migrations import upgrade_database
from flightdeck.platform.security.encryption import generate_key_spec
from flightdeck.platform.settings import Settings
from flightdeck.users import service as users_service
from tests.servers.flightdeck_app import start_app

AGENT_EMAIL = "agent@ui-test.example"
ADMIN_EMAIL = "admin@ui-test.example"
FLIGHT_NUMBER = "FD990"
DAYS_AHEAD = 10  # more than 24 h away: a cancellation is refunded in full


@dataclass(frozen=True)
class UiApp:
    base_url: str
    agent_password: str
    admin_password: str
    flight_id: str
    service_date: str  # the flight's local date at JFK, YYYY-MM-DD


def ui_settings(workdir: Path) -> dict[str, str]:
    return {
        "FLIGHTDECK_DATABASE_URL": f"sqlite+aiosqlite:///{workdir / 'ui.db'}",
        "FLIGHTDECK_JWT_SECRET": secrets.token_urlsafe(48),
        "FLIGHTDECK_ENCRYPTION_KEYS": generate_key_spec("ui1"),
        "FLIGHTDECK_UI_ASSET_CACHE_DIR": str(workdir / "ui-cache"),
        "FLIGHTDECK_LOG_LEVEL": "WARNING",
    }


def prepare_database(settings: Mapping[str, str], passwords: Mapping[str, str]) -> None:
    """The schema (Alembic) and the staff accounts, made in this process: a `flightdeck`
    command per step would import the whole app again each time."""
    config = Settings(
        database_url=settings["FLIGHTDECK_DATABASE_URL"],
        jwt_secret=settings["FLIGHTDECK_JWT_SECRET"],
        encryption_keys=settings["FLIGHTDECK_ENCRYPTION_KEYS"],
    )
    upgrade_database(config)

    async def create_staff() -> None:
        engine = create_engine(config)
        try:
            async with create_sessionmaker(engine)() as session:
                for email, role in ((AGENT_EMAIL, "agent"), (ADMIN_EMAIL, "admin")):
                    await users_service.create_user(
                        session,
                        email=email,
                        password=passwords[email],
                        full_name=f"UI {role.title()}",
                        role=role,
                    )
                await session.commit()
        finally:
            await engine.dispose()

    # Its own thread, so its event loop never meets the suite's.
    with ThreadPoolExecutor(max_workers=1) as thread:
        thread.submit(asyncio.run, create_staff()).result()


def add_flight(base_url: str, agent_password: str) -> tuple[str, str]:
    """FD990 JFK→LHR in DAYS_AHEAD days (a small A320 cabin: a quick seat map)."""
    day = dt.date.today() + dt.timedelta(days=DAYS_AHEAD)
    new_york, london = ZoneInfo("America/New_York"), ZoneInfo("Europe/London")
    departure = dt.datetime.combine(day, dt.time(18, 30), new_york)
    arrival = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(6, 40), london)
    with httpx.Client(base_url=base_url, timeout=10) as http:
        login = http.post("/login", json={"email": AGENT_EMAIL, "password": agent_password})
        headers = {"Authorization": f"Bearer {login.raise_for_status().json()['access_token']}"}
        created = http.post(
            "/flights",
            headers=headers,
            json={
                "flight_number": FLIGHT_NUMBER,
                "origin": "JFK",
                "destination": "LHR",
                "departure_time": departure.isoformat(),
                "arrival_time": arrival.isoformat(),
                "aircraft": "320",
                "cabins": {"economy": {"seats": 24, "fare": {"amount": 45000, "currency": "USD"}}},
            },
        )
    return str(created.raise_for_status().json()["id"]), day.isoformat()


@contextlib.contextmanager
def running_ui_app() -> Iterator[UiApp]:
    with tempfile.TemporaryDirectory(prefix="flightdeck-ui-") as temp:
        workdir = Path(temp)
        settings = ui_settings(workdir)
        passwords = {AGENT_EMAIL: secrets.token_urlsafe(12), ADMIN_EMAIL: secrets.token_urlsafe(12)}
        prepare_database(settings, passwords)
        server = start_app(settings)
        try:
            flight_id, day = add_flight(server.base_url, passwords[AGENT_EMAIL])
            yield UiApp(
                server.base_url, passwords[AGENT_EMAIL], passwords[ADMIN_EMAIL], flight_id, day
            )
        finally:
            server.stop()
