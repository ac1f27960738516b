"""Demo data for the embedded default: three airlines' schedules, an admin and an agent."""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from datetime import date, time, timedelta
from pathlib import Path

from rich.console import Console
from rich.progress import Progress
from sqlalchemy.ext.asyncio import AsyncSession

from flightdeck.flights.airports import get_airport
from flightdeck.flights.schedules import service as schedule_service
from flightdeck.flights.schedules.schemas import ScheduleCreate
from flightdeck.flights.schemas import CabinSpec
from flightdeck.platform.clock import utcnow
from flightdeck.platform.errors import Conflict
from flightdeck.platform.money import Money
from flightdeck.platform.security.auth import Principal
from flightdeck.users import service as users_service

CREDENTIALS_FILE = Path("var/demo-credentials.json")
DEMO_ACCOUNTS = (
    ("admin", "admin@flightdeck.demo", "Demo Admin"),
    ("agent", "agent@flightdeck.demo", "Demo Agent"),
)


@dataclass(frozen=True)
class DemoRoute:
    flight_number: str
    origin: str
    destination: str
    departs: str
    arrives: str
    day_offset: int = 0
    days: str = "1234567"
    aircraft: str = "320"
    economy: tuple[int, int] = (150, 189_00)  # seats, fare in minor units
    business: tuple[int, int] | None = None


# Hubs at JFK/ORD (FD), LHR/AMS (NW) and a transpacific pair (BL), so searches find connections.
DEMO_ROUTES = (
    DemoRoute("FD100", "JFK", "LAX", "08:00", "11:25", business=(12, 899_00)),
    DemoRoute("FD101", "LAX", "JFK", "13:00", "21:30", business=(12, 899_00)),
    DemoRoute("FD110", "JFK", "ORD", "07:00", "08:45", economy=(150, 129_00)),
    DemoRoute("FD111", "ORD", "JFK", "10:00", "13:05", economy=(150, 129_00)),
    DemoRoute("FD120", "ORD", "LAX", "10:30", "13:00", economy=(160, 159_00)),
    DemoRoute("FD121", "LAX", "ORD", "14:30", "20:35", economy=(160, 159_00)),
    DemoRoute("FD130", "JFK", "MIA", "09:15", "12:25", economy=(150, 139_00)),
    DemoRoute("FD131", "MIA", "JFK", "14:00", "17:05", economy=(150, 139_00)),
    DemoRoute("FD140", "ORD", "SFO", "10:30", "13:10", days="12345", economy=(150, 179_00)),
    DemoRoute(
        "FD200",
        "JFK",
        "LHR",
        "18:30",
        "06:40",
        day_offset=1,
        aircraft="77W",
        economy=(300, 549_00),
        business=(40, 3_200_00),
    ),
    DemoRoute(
        "FD201",
        "LHR",
        "JFK",
        "11:00",
        "14:00",
        aircraft="77W",
        economy=(300, 549_00),
        business=(40, 3_200_00),
    ),
    DemoRoute("NW300", "LHR", "CDG", "08:00", "10:15", economy=(174, 89_00)),
    DemoRoute("NW301", "CDG", "LHR", "11:15", "11:30", economy=(174, 89_00)),
    DemoRoute("NW310", "LHR", "AMS", "07:30", "09:45", economy=(174, 95_00)),
    DemoRoute("NW311", "AMS", "LHR", "10:30", "10:50", economy=(174, 95_00)),
    DemoRoute(
        "NW320",
        "AMS",
        "JFK",
        "13:00",
        "15:10",
        aircraft="789",
        economy=(250, 499_00),
        business=(30, 2_900_00),
    ),
    DemoRoute("NW330", "LHR", "FRA", "12:00", "14:35", days="12345", economy=(174, 119_00)),
    DemoRoute(
        "BL500",
        "SFO",
        "NRT",
        "11:00",
        "14:30",
        day_offset=1,
        days="1357",
        aircraft="789",
        economy=(250, 799_00),
        business=(28, 4_100_00),
    ),
    DemoRoute(
        "BL501",
        "NRT",
        "SFO",
        "17:00",
        "10:00",
        days="2461",
        aircraft="789",
        economy=(250, 799_00),
        business=(28, 4_100_00),
    ),
)


def _definition(route: DemoRoute, start: date, days: int) -> ScheduleCreate:
    currency = "USD"
    cabins = {
        "economy": CabinSpec(
            seats=route.economy[0], fare=Money(amount=route.economy[1], currency=currency)
        )
    }
    if route.business:
        cabins["business"] = CabinSpec(
            seats=route.business[0], fare=Money(amount=route.business[1], currency=currency)
        )
    return ScheduleCreate(
        flight_number=route.flight_number,
        origin=route.origin,
        destination=route.destination,
        departure_local=time.fromisoformat(route.departs),
        arrival_local=time.fromisoformat(route.arrives),
        arrival_day_offset=route.day_offset,
        days_of_week="".join(sorted(route.days)),
        valid_from=start,
        valid_to=start + timedelta(days=days - 1),
        aircraft=route.aircraft,
        cabins=cabins,
    )


def _load_or_make_credentials() -> dict[str, str]:
    if CREDENTIALS_FILE.exists():
        stored: dict[str, str] = json.loads(CREDENTIALS_FILE.read_text())
        return stored
    credentials = {email: secrets.token_urlsafe(12) for _, email, _ in DEMO_ACCOUNTS}
    CREDENTIALS_FILE.parent.mkdir(parents=True, exist_ok=True)
    CREDENTIALS_FILE.write_text(json.dumps(credentials, indent=2))
    CREDENTIALS_FILE.chmod(0o600)
    return credentials


async def _create_accounts(session: AsyncSession, credentials: dict[str, str]) -> str | None:
    """Creates the demo admin and agent; returns the admin's id, or None if they exist."""
    admin_id: str | None = None
    for role, email, name in DEMO_ACCOUNTS:
        try:
            user = await users_service.create_user(
                session, email=email, password=credentials[email], full_name=name, role=role
            )
        except Conflict:
            return None
        admin_id = admin_id or user.id
    return admin_id


async def seed_demo_data(session: AsyncSession, *, days: int, console: Console) -> str:
    """Loads the demo data once; later runs only print the credentials again."""
    credentials = _load_or_make_credentials()
    admin_id = await _create_accounts(session, credentials)
    lines = [
        f"  {role:<6} {email}  password: {credentials[email]}" for role, email, _ in DEMO_ACCOUNTS
    ]
    if admin_id is None:
        return "Demo data already loaded. Sign in with:\n" + "\n".join(lines)
    actor = Principal(user_id=admin_id, role="admin")
    flights = 0
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task("Generating schedules", total=len(DEMO_ROUTES))
        for route in DEMO_ROUTES:
            start = utcnow().astimezone(get_airport(route.origin).zone).date() + timedelta(days=1)
            created = await schedule_service.create_schedule(
                session, _definition(route, start, days), actor
            )
            flights += created.flights_created
            progress.advance(task)
    return (
        f"Loaded {len(DEMO_ROUTES)} schedules ({flights} flights over {days} days) "
        "and the demo accounts. Sign in with:\n" + "\n".join(lines)
    )
