"""The app as a program of its own: a phone app packaged with `flet build apk|ipa` (see
docs/UI.md), or a desktop window during development. It talks to the FlightDeck server named
by FLIGHTDECK_UI_API_URL, or by `api_url.txt` packaged beside the app (a phone has no
environment to set)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import flet as ft

from flightdeck.ui.app import make_main

API_URL_FILE = "api_url.txt"


def configured_api_url() -> str:
    """FLIGHTDECK_UI_API_URL, else the first line of api_url.txt next to the entry script."""
    from_environment = os.environ.get("FLIGHTDECK_UI_API_URL", "").strip()
    if from_environment:
        return from_environment
    entry = Path(sys.argv[0]).resolve().parent if sys.argv and sys.argv[0] else Path.cwd()
    for folder in (entry, Path(__file__).resolve().parent):
        packaged = folder / API_URL_FILE
        if packaged.is_file():
            return packaged.read_text().strip().splitlines()[0]
    raise SystemExit(f"Set FLIGHTDECK_UI_API_URL (or package {API_URL_FILE}) to the server's URL")


def run() -> None:
    api_url = configured_api_url()
    ft.run(make_main(lambda: api_url))


if __name__ == "__main__":
    run()
