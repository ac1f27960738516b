"""`flightdeck serve`."""

from __future__ import annotations

from typing import Annotated

import typer

from flightdeck.cli.common import console


def serve(
    host: Annotated[str, typer.Option(help="Interface to bind")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on")] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes")] = 1,
    reload: Annotated[bool, typer.Option(help="Reload on code changes (development)")] = False,
) -> None:
    """Serve the HTTP API (and /docs)."""
    import uvicorn

    console.print(f"FlightDeck on http://{host}:{port}  (API docs: http://{host}:{port}/docs)")
    uvicorn.run(
        "flightdeck.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        reload=reload,
        # The client address is resolved by the app (platform/client_address.py), from
        # X-Forwarded-For only when the peer is in FLIGHTDECK_TRUSTED_PROXIES; uvicorn's own
        # rewrite would believe the header from 127.0.0.1, whoever sent it.
        proxy_headers=False,
    )
