"""Flight test fixtures: the test app served over real TCP (for the status simulator)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio
from fastapi import FastAPI
from tests.servers.flightdeck_app import serving


@pytest_asyncio.fixture(loop_scope="session")
async def live_url(app: FastAPI) -> AsyncIterator[str]:
    """The test app (lifespan running) served by uvicorn on a free local port."""
    async with serving(app) as base_url:
        yield base_url
