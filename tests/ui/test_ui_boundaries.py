"""The app is a client of the public API: no module of it reaches into the server's code."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import flightdeck.ui

UI_ROOT = Path(flightdeck.ui.__file__).parent
SERVER_SIDE = UI_ROOT / "server"  # serves the app; may use the platform (settings, errors)


# What the app may use besides the standard library: it must run on a phone, without the server.
APP_PACKAGES = {"flet", "flet_charts", "httpx", "websockets", "flightdeck"}


def imports(path: Path) -> set[str]:
    """The modules a file imports (absolute imports; the app uses no other)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{path}: relative import"
            found.add(node.module or "")
    return found


def flightdeck_imports(path: Path) -> set[str]:
    return {name for name in imports(path) if name.split(".")[0] == "flightdeck"}


def app_modules() -> list[Path]:
    return [p for p in UI_ROOT.rglob("*.py") if SERVER_SIDE not in p.parents]


def test_the_app_imports_nothing_of_flightdeck_but_itself() -> None:
    modules = app_modules()
    assert len(modules) > 10  # the scan sees the app
    outside = {
        str(path.relative_to(UI_ROOT)): sorted(
            name for name in flightdeck_imports(path) if not name.startswith("flightdeck.ui")
        )
        for path in modules
    }
    assert {module: names for module, names in outside.items() if names} == {}


def test_the_app_needs_no_package_of_the_server() -> None:
    third_party = {
        str(path.relative_to(UI_ROOT)): sorted(
            name
            for name in imports(path)
            if name.split(".")[0] not in sys.stdlib_module_names | APP_PACKAGES
        )
        for path in app_modules()
    }
    assert {module: names for module, names in third_party.items() if names} == {}


def test_serving_the_app_uses_only_the_platform_and_the_app() -> None:
    allowed = (
        "flightdeck.ui",
        "flightdeck.platform.settings",
        "flightdeck.platform.errors",
        "flightdeck.platform.modules",  # module.py: what the ui service adds to a server
    )
    for path in SERVER_SIDE.rglob("*.py"):
        for name in flightdeck_imports(path):
            assert name.startswith(allowed), f"{path.name} imports {name}"


def test_no_module_of_the_app_is_over_500_lines() -> None:
    long = {
        p.name: n for p in UI_ROOT.rglob("*.py") if (n := len(p.read_text().splitlines())) > 500
    }
    assert long == {}
