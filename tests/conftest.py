"""Suite-wide fixtures: real databases (SQLite and a PostgreSQL server started here), the app,
an HTTP client, and users of each role.

Every test that takes `client` runs once per backend. The PostgreSQL server is started by the
suite (tests/servers/postgres.py) unless FLIGHTDECK_TEST_POSTGRES_URL points at one already.
"""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
import pytest_asyncio
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from sqlalchemy import event, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from flightdeck.app import create_app
from flightdeck.model_registry import Base
from flightdeck.platform.clock import clock
from flightdeck.platform.db import READ_ONLY
from flightdeck.platform.migrations import upgrade_database
from flightdeck.platform.security.encryption import generate_key_spec
from flightdeck.platform.security.passwords import hash_password, use_hashing_cost
from flightdeck.platform.security.tokens import issue_access_token
from flightdeck.platform.settings import Settings
from flightdeck.users.models import User
from tests import run_summary
from tests.servers.flightdeck_app import FAST_PASSWORD_HASHING

if TYPE_CHECKING:
    from tests.servers.postgres import PostgresServer

# Every Settings() of the suite, and `create_user` below, hash at the test-only cost.
for _name, _value in FAST_PASSWORD_HASHING.items():
    os.environ.setdefault(_name, _value)
use_hashing_cost(Settings().password_hashing)

BACKENDS = ["sqlite", "postgres"]
TEST_PASSWORD = "correct-horse-battery"
# The app's clock in every test that uses `client`: the dates tests write (a flight on
# 1 December 2026, a schedule season) keep their place relative to "now" whenever the suite
# runs. The clock still moves from there; a test may move it on (`clock.advance`).
SUITE_NOW = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)


# A statement that writes, anywhere in it (a CTE's INSERT/UPDATE/DELETE too), or locks rows
# (a lock taken in autocommit ends with its statement: it would protect nothing).
_WRITES = re.compile(
    r"\b(INSERT\s+INTO|UPDATE\s+\S+\s+SET|DELETE\s+FROM|FOR\s+(NO\s+KEY\s+)?UPDATE|"
    r"FOR\s+(KEY\s+)?SHARE)\b",
    re.IGNORECASE,
)
READ_ONLY_WRITES: list[str] = []


@event.listens_for(Engine, "before_cursor_execute")
def _read_only_connections_write_nothing(conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
    """A GET's session and every read connection run statement by statement, in autocommit
    (platform/db.py): a write or a row lock there would not be part of any transaction. Every
    statement of the suite is checked; one that writes or locks on such a connection fails
    the test that made it."""
    if conn.get_execution_options().get(READ_ONLY) and _WRITES.search(statement):
        READ_ONLY_WRITES.append(statement)
        raise AssertionError(f"a read-only connection wrote: {statement[:300]}")


@pytest.fixture(autouse=True)
def _no_read_only_writes() -> Iterator[None]:
    del READ_ONLY_WRITES[:]
    yield
    assert not READ_ONLY_WRITES, f"read-only connections wrote: {READ_ONLY_WRITES}"


def pytest_sessionfinish(session: pytest.Session) -> None:
    worker_output = getattr(session.config, "workeroutput", None)
    if worker_output is not None:  # a pytest-xdist worker: the controller prints the lines
        worker_output["run_summary"] = list(run_summary.LINES)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: object) -> None:
    run_summary.LINES.extend(getattr(node, "workeroutput", {}).get("run_summary", []))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    for line in run_summary.LINES:
        terminalreporter.write_line(line)


@pytest.fixture(scope="session")
def postgres_root_url() -> Iterator[str]:
    """URL of a PostgreSQL server for the session: an external one, or one started here."""
    external = os.environ.get("FLIGHTDECK_TEST_POSTGRES_URL")
    if external:
        yield external
        return
    from tests.servers.postgres import running_postgres

    with running_postgres() as server:
        yield server.create_database("flightdeck_test")


@pytest.fixture(scope="session")
def replicated_postgres() -> Iterator[tuple[PostgresServer, PostgresServer]]:
    """A PostgreSQL primary of its own and its streaming read replica (pg_basebackup), for
    the read-replica and multi-process tests; the suite's other tests never touch it."""
    from tests.servers.postgres import running_postgres, running_standby

    with running_postgres() as primary, running_standby(primary) as standby:
        yield primary, standby


GENEROUS_RATE_LIMITS = {
    "rate_limit_per_address": "100000/minute",
    "rate_limit_per_user": "100000/minute",
    "rate_limit_register": "100000/minute",
    "rate_limit_login": "100000/minute",
    "rate_limit_search": "100000/minute",
    "rate_limit_create_booking": "100000/minute",
}


def make_settings(database_url: str) -> Settings:
    return Settings(
        database_url=database_url,
        jwt_secret="test-secret-" + "x" * 40,
        encryption_keys=generate_key_spec("test1"),
        login_max_failures=5,
        login_failure_window_seconds=900,
        # Tests run the hold sweeper themselves (tests/bookings), not on a timer.
        hold_sweep_seconds=0,
        # Nor the payment reconciler (tests/payments run its passes): a pass begun between
        # tests, on the real clock (a month past the suite's), took a payment the next test
        # was making for a stale one and settled it under that test.
        payment_reconcile_seconds=0,
        # The suite sends many requests from one address: limits that it never reaches
        # (tests/platform/test_http_limits.py tests the limits with small ones).
        **GENEROUS_RATE_LIMITS,
    )


@pytest.fixture(scope="session", params=BACKENDS)
def settings(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """Settings for one backend, with the schema built by the Alembic migrations."""
    if request.param == "sqlite":
        path = Path(tmp_path_factory.mktemp("sqlite")) / "flightdeck.db"
        url = f"sqlite+aiosqlite:///{path}"
    else:
        url = request.getfixturevalue("postgres_root_url")
    settings = make_settings(url)
    upgrade_database(settings)
    return settings


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    application = create_app(settings)
    async with LifespanManager(application):
        yield application


@pytest.fixture
def backend(settings: Settings) -> str:
    return "sqlite" if settings.is_sqlite else "postgres"


@pytest_asyncio.fixture(loop_scope="session")
async def db(app: FastAPI) -> AsyncIterator[AsyncSession]:
    """A session on the app's database, for arranging data and checking what was stored."""
    maker: async_sessionmaker[AsyncSession] = app.state.sessionmaker
    async with maker() as session:
        yield session


async def _empty_tables(app: FastAPI) -> None:
    # Event handlers (notifications, ...) may still be writing in the background: let the
    # in-process bus finish, and retry if TRUNCATE still deadlocks with a late handler.
    drain = getattr(getattr(app.state, "bus", None), "drain", None)
    if drain is not None:
        await asyncio.wait_for(drain(), 10)
    for attempt in range(5):
        try:
            await _delete_all_rows(app)
            return
        except DBAPIError as exc:
            if "deadlock" not in str(exc) or attempt == 4:
                raise
            await asyncio.sleep(0.1)


async def _delete_all_rows(app: FastAPI) -> None:
    async with app.state.engine.begin() as conn:
        if app.state.settings.is_sqlite:
            for table in reversed(Base.metadata.sorted_tables):
                await conn.execute(table.delete())
        else:
            names = ", ".join(t.name for t in Base.metadata.sorted_tables)
            await conn.execute(text(f"TRUNCATE {names} CASCADE"))


@pytest_asyncio.fixture(loop_scope="session")
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, client=("203.0.113.10", 50000))
    clock.advance(SUITE_NOW - clock.now())
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http
    clock.reset()
    await app.state.rate_limits.storage.reset()
    await _empty_tables(app)


@dataclass
class TestUser:
    __test__ = False  # a fixture type, not a test class

    id: str
    email: str
    role: str
    password: str
    headers: dict[str, str]


async def create_user(
    app: FastAPI, role: str = "passenger", email: str | None = None, full_name: str = "Test User"
) -> TestUser:
    """Stores a user directly and returns bearer headers for them."""
    email = email or f"{role}-{os.urandom(4).hex()}@example.com"
    maker: async_sessionmaker[AsyncSession] = app.state.sessionmaker
    async with maker() as session:
        user = User(
            email=email,
            password_hash=await asyncio.to_thread(hash_password, TEST_PASSWORD),
            full_name=full_name,
            role=role,
        )
        session.add(user)
        await session.commit()
    token, _ = issue_access_token(app.state.settings, user.id, role)
    return TestUser(user.id, email, role, TEST_PASSWORD, {"Authorization": f"Bearer {token}"})


@pytest_asyncio.fixture(loop_scope="session")
async def passenger(app: FastAPI, client: httpx.AsyncClient) -> TestUser:
    return await create_user(app, "passenger")


@pytest_asyncio.fixture(loop_scope="session")
async def agent(app: FastAPI, client: httpx.AsyncClient) -> TestUser:
    return await create_user(app, "agent")


@pytest_asyncio.fixture(loop_scope="session")
async def admin(app: FastAPI, client: httpx.AsyncClient) -> TestUser:
    return await create_user(app, "admin")


def assert_error(
    response: httpx.Response, status: int, code: str | None = None
) -> dict[str, object]:
    """Asserts the one error shape and returns its body."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}, body
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    if code is not None:
        assert body["error"]["code"] == code, body
    return body["error"]


def assert_unavailable(response: httpx.Response, code: str) -> dict[str, object]:
    """A 503 in the one error shape, saying when to try again (`Retry-After`, and
    `details.retry_after_seconds`)."""
    error = assert_error(response, 503, code)
    assert response.headers["Retry-After"] == "5"
    assert isinstance(error["details"], dict) and error["details"]["retry_after_seconds"] == 5
    return error
