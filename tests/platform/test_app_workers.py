"""A server runs the four background workers, reports them in /metrics, and stopping it ends
every one of them."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from prometheus_client import REGISTRY
from tests.platform.events.support import eventually

from flightdeck.app import create_app

pytestmark = pytest.mark.asyncio(loop_scope="session")

WORKERS = {"hold-sweeper", "payment-reconciler", "refund-worker", "outbox-relay"}


async def test_the_server_runs_every_worker_and_stopping_it_ends_them(app: FastAPI) -> None:
    others = set(asyncio.all_tasks())  # the session app's own workers among them
    server = create_app(
        app.state.settings.model_copy(
            update={"hold_sweep_seconds": 0.05, "payment_reconcile_seconds": 30}
        )
    )
    lifespan = LifespanManager(server)
    await lifespan.__aenter__()
    try:
        tasks = [t for t in asyncio.all_tasks() - others if t.get_name() in WORKERS]
        assert {t.get_name() for t in tasks} == WORKERS
        assert not any(t.done() for t in tasks)
    finally:
        async with asyncio.timeout(10):  # the failure condition: a loop that never ends
            await lifespan.__aexit__(None, None, None)
    assert all(t.done() for t in tasks)


async def test_metrics_count_the_rounds_of_each_worker(client: httpx.AsyncClient) -> None:
    def counted(worker: str) -> bool:
        labels = {"worker": worker, "outcome": "ok"}
        return REGISTRY.get_sample_value("flightdeck_worker_runs_total", labels) is not None

    # The session app's workers ran their first round when it started, or do so shortly.
    await eventually(lambda: counted("outbox-relay") and counted("refund-worker"))
    body = (await client.get("/metrics")).text
    assert 'flightdeck_worker_runs_total{outcome="ok",worker="outbox-relay"}' in body
    assert 'flightdeck_worker_run_seconds_count{worker="refund-worker"}' in body
    assert 'flightdeck_worker_last_success_timestamp_seconds{worker="outbox-relay"}' in body
