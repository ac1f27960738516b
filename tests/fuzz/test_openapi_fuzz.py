"""Schemathesis against the app's own OpenAPI document, on a real server over each database,
as an admin, a passenger and anonymous: no response is a 5xx, none contradicts the document.

In `make test` the run is bounded (deterministic cases, a few examples per operation, about
2,300 requests over both databases, see BOUNDED); `make fuzz` (FLIGHTDECK_FUZZ=long) runs every
phase for every identity on both, with many more examples (FLIGHTDECK_FUZZ_EXAMPLES, 45) and a
fixed seed.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from flightdeck.platform.security.tokens import issue_access_token
from flightdeck.platform.settings import Settings
from tests.conftest import TestUser, create_user
from tests.fuzz.harness import ALL_PHASES, FuzzRun, Identity, run_schemathesis
from tests.servers.flightdeck_app import AppProcess
from tests.servers.process import start_on_free_port

pytestmark = pytest.mark.asyncio(loop_scope="session")

LONG = os.environ.get("FLIGHTDECK_FUZZ") == "long"
LONG_EXAMPLES = int(os.environ.get("FLIGHTDECK_FUZZ_EXAMPLES", "45"))
BOUNDED_RUN = ("examples", "fuzzing", "stateful")


@dataclass(frozen=True)
class Plan:
    """What one identity's run covers: its phases and examples per operation."""

    phases: tuple[str, ...]
    max_examples: int


# The bounded run (make test), about 2,300 requests in all: the coverage phase (boundary
# values of every parameter and field: year 1 and 9999, huge numbers, NUL bytes, ~1,900
# requests) as admin, who reaches every write path, on PostgreSQL, whose columns and text
# type refuse most; generated cases and stateful sequences for every identity on both.
BOUNDED: dict[str, dict[str, Plan]] = {
    "postgres": {
        "admin": Plan(("examples", "coverage", "stateful"), 3),
        "passenger": Plan(BOUNDED_RUN, 2),
        "anonymous": Plan(("examples", "fuzzing"), 2),
    },
    "sqlite": {
        "admin": Plan(BOUNDED_RUN, 4),
        "passenger": Plan(BOUNDED_RUN, 3),
        "anonymous": Plan(("examples", "fuzzing"), 3),
    },
}
MIN_REQUESTS = {"postgres": 1_800, "sqlite": 400}
MIN_REQUESTS_LONG = 10_000  # per database; `make fuzz` runs both


def plan_for(backend: str, identity: str) -> Plan:
    return Plan(ALL_PHASES, LONG_EXAMPLES) if LONG else BOUNDED[backend][identity]


def server_environment(settings: Settings) -> dict[str, str]:
    """The settings of the suite's app for a server process on the same database, with the
    signed webhooks configured so the fuzzer reaches their signature checks."""
    return {
        "FLIGHTDECK_DATABASE_URL": settings.database_url,
        "FLIGHTDECK_JWT_SECRET": settings.jwt_secret,
        "FLIGHTDECK_ENCRYPTION_KEYS": settings.encryption_keys,
        "FLIGHTDECK_HOLD_SWEEP_SECONDS": "0",
        "FLIGHTDECK_PAYMENT_RECONCILE_SECONDS": "0",
        "FLIGHTDECK_STATUS_FEED_SECRET": "fuzz-status-feed-secret",
        "FLIGHTDECK_PAYMENT_WEBHOOK_SECRET": "fuzz-payment-webhook-secret",
        "FLIGHTDECK_LOG_LEVEL": "CRITICAL",  # the fuzzer's 4xx flood is not news
        # A fuzzer is one client sending thousands of requests: with the rate limits on, it
        # would mostly meet 429s (documented on every operation; tested in
        # tests/platform/test_http_limits.py) instead of the handlers.
        "FLIGHTDECK_RATE_LIMITS_ENABLED": "false",
    }


def fresh_bearer(settings: Settings, user: TestUser) -> dict[str, str]:
    """An access token good for the longest lifetime the settings allow (an hour), issued
    just before the run: a long run must not go on as anonymous once a token expires."""
    longest = settings.model_copy(update={"access_token_minutes": 60})
    token, _ = issue_access_token(longest, user.id, user.role)
    return {"Authorization": f"Bearer {token}"}


class FuzzTarget(AppProcess):
    name = "FlightDeck server under fuzzing"
    ready_timeout = 120.0  # start-up while the suite (or `make fuzz`) loads both cores


def start_fuzz_target(env: dict[str, str]) -> FuzzTarget:
    workdir = Path(tempfile.mkdtemp(prefix="flightdeck-fuzz-"))
    return start_on_free_port(lambda port: FuzzTarget(port, workdir, env=env))


async def test_fuzzing_the_openapi_document_finds_no_5xx_and_no_schema_contradiction(
    app: FastAPI,
    client: httpx.AsyncClient,
    settings: Settings,
    backend: str,
    tmp_path: Path,
) -> None:
    users = {role: await create_user(app, role) for role in ("admin", "passenger")}
    server = await asyncio.to_thread(start_fuzz_target, server_environment(settings))
    runs: list[FuzzRun] = []
    with contextlib.closing(server):
        for name in ("admin", "passenger", "anonymous"):
            user = users.get(name)
            identity = Identity(name, fresh_bearer(settings, user) if user else {})
            runs.append(
                await asyncio.to_thread(
                    run_schemathesis,
                    server.base_url,
                    identity,
                    report_dir=tmp_path / identity.name,
                    max_examples=plan_for(backend, identity.name).max_examples,
                    phases=plan_for(backend, identity.name).phases,
                    deterministic=not LONG,
                    workers=2 if LONG else 1,
                )
            )
    by_phase: Counter[str] = sum((run.requests_by_phase for run in runs), Counter())
    print(f"\nfuzz {backend}: {dict(by_phase)}, {sum(by_phase.values())} requests")
    for run in runs:
        print(f"  {run.identity}: {dict(run.requests_by_phase)} in {run.seconds:.0f} s")
    for run in runs:
        assert run.failures == [], f"{backend} as {run.identity}:\n{run.output}"
        assert run.exit_code == 0, f"{backend} as {run.identity}:\n{run.output}"
    assert sum(by_phase.values()) >= (MIN_REQUESTS_LONG if LONG else MIN_REQUESTS[backend])
    planned = {phase for run in runs for phase in plan_for(backend, run.identity).phases}
    assert set(by_phase) == planned
