"""The documentation in the repository stays true: docs/API.md lists exactly the paths the app
serves, and the README documents every setting the code reads."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from starlette.routing import WebSocketRoute

from flightdeck.platform.settings import Settings

pytestmark = pytest.mark.asyncio(loop_scope="session")

ROOT = Path(__file__).resolve().parents[1]
API_MD = ROOT / "docs" / "API.md"
README = ROOT / "README.md"
HTTP_METHODS = {"GET", "POST", "PUT", "PATCH", "DELETE"}

# Documented in docs/API.md, served by work on another branch (none now). Each entry makes
# the test fail once the app serves it: remove it then.
PENDING: set[tuple[str, str]] = set()


def _normalised(path: str) -> str:
    return re.sub(r"\{[^}]*\}", "{}", path)


def documented_operations() -> set[tuple[str, str]]:
    """(method, path) of every row `| METHOD[, METHOD] | /path | ...` of docs/API.md."""
    operations = set()
    for line in API_MD.read_text().splitlines():
        cells = [cell.strip() for cell in line.split("|")]
        if len(cells) > 3 and cells[2].startswith("/"):
            for method in (m.strip() for m in cells[1].split(",")):
                operations.add((method, _normalised(cells[2])))
    return operations


async def test_docs_api_md_lists_exactly_the_paths_the_app_serves(
    client: httpx.AsyncClient,
) -> None:
    paths = (await client.get("/openapi.json")).json()["paths"]
    served = {
        (method.upper(), _normalised(path))
        for path, methods in paths.items()
        for method in methods
        if method.upper() in HTTP_METHODS
    }
    documented = {op for op in documented_operations() if op[0] in HTTP_METHODS}

    assert served - documented == set(), "served but not in docs/API.md"
    assert documented - served - PENDING == set(), "in docs/API.md but not served"
    assert PENDING & served == set(), "served now: remove from PENDING"


async def test_the_websocket_endpoint_is_documented_and_served(app: FastAPI) -> None:
    websockets = {
        route.path
        for route in app.routes
        for route in getattr(getattr(route, "original_router", None), "routes", [route])
        if isinstance(route, WebSocketRoute)
    }

    assert ("WS", "/ws") in documented_operations()
    assert "/ws" in websockets


async def test_the_readme_documents_every_setting() -> None:
    readme = README.read_text()

    missing = [
        f"FLIGHTDECK_{name.upper()}"
        for name in Settings.model_fields
        if f"`FLIGHTDECK_{name.upper()}`" not in readme
    ]

    assert missing == []


async def test_the_readme_points_at_the_contract_in_the_repository() -> None:
    readme = README.read_text()

    assert "docs/API.md" in readme
    assert "../shared" not in readme
