"""`flightdeck serve`."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Annotated

import typer

from flightdeck.cli.common import console, err_console

if TYPE_CHECKING:
    from flightdeck.platform.settings import Settings


def uvicorn_loop(settings: Settings) -> str:
    """uvicorn's `loop` for `FLIGHTDECK_EVENT_LOOP`. auto: asyncio's own loop on SQLite, whose
    brief reads run in the event loop's thread (platform/sqlite_driver.read_in_loop): under
    load uvloop left some connections' requests unread in the socket for up to ~1 s while it
    served the others (docs/ARCHITECTURE.md, "The cost of a request"); asyncio's loop serves
    them in turn. Elsewhere uvicorn's own choice, uvloop."""
    if settings.event_loop == "auto":
        return "asyncio" if settings.is_sqlite else "auto"
    return settings.event_loop


def _service_names(services: str | None) -> list[str] | None:
    """The names of `--services` ("flights,search"), checked against the modules; None: all."""
    from flightdeck.modules import UnknownService, select_modules

    names = [part.strip() for part in (services or "").split(",") if part.strip()]
    if not names:
        return None
    try:
        select_modules(names)
    except UnknownService as exc:
        err_console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(code=2) from exc
    return names


def serve(
    host: Annotated[str, typer.Option(help="Interface to bind")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on")] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes")] = 1,
    reload: Annotated[bool, typer.Option(help="Reload on code changes (development)")] = False,
    services: Annotated[
        str | None,
        typer.Option(
            help="Only these services, comma-separated (e.g. flights,search): their routes, "
            "workers and event subscriptions. Default: all (or FLIGHTDECK_SERVICES)."
        ),
    ] = None,
) -> None:
    """Serve the HTTP API (and /docs)."""
    import uvicorn

    from flightdeck.platform.http_protocol import UVICORN_HTTP
    from flightdeck.platform.settings import get_settings

    names = _service_names(services)
    if names is not None:
        # uvicorn's factory takes no arguments, and --workers/--reload start new processes:
        # the choice travels as the setting every process reads.
        os.environ["FLIGHTDECK_SERVICES"] = ",".join(names)
        get_settings.cache_clear()
    running = ", ".join(names) if names else "all services"
    console.print(
        f"FlightDeck ({running}) on http://{host}:{port}  (API docs: http://{host}:{port}/docs)"
    )
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
        # A response's head and body in one write (platform/http_protocol.py).
        http=UVICORN_HTTP,
        timeout_graceful_shutdown=get_settings().shutdown_grace_seconds,
        # uvicorn's lines (one per request at INFO) follow the same level as ours: WARNING
        # keeps a busy server's log to what needs attention. Above INFO its access log is
        # off: uvicorn formats each line's client and path before the level drops it.
        log_level=get_settings().log_level.lower(),
        access_log=get_settings().log_level in ("DEBUG", "INFO"),
        loop=uvicorn_loop(get_settings()),
    )
