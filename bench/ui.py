"""The app's load in a real Chromium: `make bench-ui`.

Starts the FlightDeck server the app's browser tests use (tests/ui/app_server.py: a throwaway
SQLite database, a free port) and loads the app in Debian's chromium (playwright, never
`playwright install`), RUNS times each:

- first load: a new browser context (empty HTTP cache), until the sign-in form is usable;
- reload: the same page reloaded (the versioned client files come from the browser cache, the
  page itself is revalidated);
- the very first load of all, against a server whose compressed copies are not made yet, is
  reported apart (compression happens once per file and build, then is kept on disk).

Prints the median seconds to the first usable screen, bytes on the wire (compressed, headers
included, from Chrome's own network events) and the same bodies' decoded size. Requests to
other hosts cannot resolve (the browser resolves only 127.0.0.1) and are counted.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path
from typing import Any

from playwright.sync_api import sync_playwright
from rich.console import Console
from rich.table import Table

# Bench scripts run as files; the repository root (where `tests` lives) is not on the path.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.ui.app_server import running_ui_app
from tests.ui.flutter import CHROMIUM, CHROMIUM_ARGS, PHONE, is_external, measure_load

Figures = dict[str, float]


def figures(seconds: float, responses: list[dict[str, Any]]) -> Figures:
    network = [r for r in responses if not r["cached"]]
    return {
        "seconds": seconds,
        "requests": len(network),
        "wire_bytes": sum(r["wire_bytes"] for r in network),
        "body_bytes": sum(r["body_bytes"] for r in network),
    }


def median(runs: list[Figures], key: str) -> float:
    return statistics.median(run[key] for run in runs)


def report(console: Console, rows: dict[str, list[Figures]], external: list[str]) -> None:
    table = Table(title="The app in Chromium (median of the runs)")
    for column in ("load", "runs", "first usable screen", "requests", "on the wire", "decoded"):
        table.add_column(column, justify="left" if column == "load" else "right")
    for name, runs in rows.items():
        table.add_row(
            name,
            str(len(runs)),
            f"{median(runs, 'seconds'):.2f} s",
            f"{median(runs, 'requests'):.0f}",
            f"{median(runs, 'wire_bytes') / 1e6:.2f} MB"
            if median(runs, "wire_bytes") > 1e5
            else f"{median(runs, 'wire_bytes') / 1e3:.1f} kB",
            f"{median(runs, 'body_bytes') / 1e6:.2f} MB",
        )
    console.print(table)
    console.print(f"requests to other hosts (not resolved): {len(external)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="loads of each kind (default 3)")
    runs = parser.parse_args().runs
    if not CHROMIUM.exists():
        raise SystemExit(f"{CHROMIUM} is missing: `make browser` installs Debian's chromium")
    console = Console()
    rows: dict[str, list[Figures]] = {"cold server": [], "first load": [], "reload": []}
    external: list[str] = []
    with running_ui_app() as app, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        for run in range(runs + 1):
            context = browser.new_context(viewport=PHONE)  # type: ignore[arg-type]
            page = context.new_page()
            page.on("request", lambda r: external.append(r.url) if is_external(r.url) else None)
            first = figures(*measure_load(page, app.base_url, reload=False))
            rows["cold server" if run == 0 else "first load"].append(first)
            rows["reload"].append(figures(*measure_load(page, app.base_url, reload=True)))
            context.close()
        browser.close()
    report(console, rows, external)


if __name__ == "__main__":
    main()
