"""Entry point of the packaged phone app (copied to build/mobile/src/main.py)."""

from flightdeck.ui.phone import run

run()
