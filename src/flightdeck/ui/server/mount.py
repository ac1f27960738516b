"""The app at `/`: the page, the Flet client's files, the Flet session socket, the lifespan.

Mounted at `/` after every API router, so API paths are unchanged. Flet's own
`flet_web.fastapi.app()` is not used as is: its session socket is `/ws`, which the API owns, its
files carry no version (nothing could be cached for long) and its 404 is not our error shape.
The pieces are flet-web's own (`FletApp`, `app_manager`, the `patch_*` helpers).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import ipaddress
import shutil
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

from flet.controls.types import RouteUrlStrategy, WebRenderer
from flet_web import (
    get_package_web_dir,
    patch_font_manifest_json,
    patch_index_html,
    patch_manifest_json,
)
from flet_web.fastapi import FletApp, app_manager
from flet_web.version import version as flet_web_version
from starlette.applications import Starlette
from starlette.datastructures import URL
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Match, Mount, Route, WebSocketRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from starlette.websockets import WebSocket

from flightdeck.platform.client_address import resolve_connection_address, signed_address_headers
from flightdeck.platform.errors import error_payload
from flightdeck.platform.settings import Settings
from flightdeck.ui.app import make_main
from flightdeck.ui.server.assets import REVALIDATE, ClientFiles, MemoryFile

CLIENT_PREFIX = "_flet"
SESSION_SOCKET_PATH = f"/{CLIENT_PREFIX}/ws"  # the API owns /ws
APP_NAME = "FlightDeck"
APP_DESCRIPTION = "Flight search, bookings and live status"
# A Flet session outlives its socket this long, so a phone that drops off briefly resumes.
SESSION_KEEP_SECONDS = 600
# A session socket's handler ends at most this long after its browser went (see
# `ended_with_the_socket`).
SOCKET_END_GRACE_SECONDS = 2.0
PATCH_REVISION = "1"  # bump when the patched files change for the same flet-web release
PAGE_HEADERS = {
    # Cross-origin isolation lets the Flutter renderer use threads (flet-web sets the same).
    "cross-origin-opener-policy": "same-origin",
    "cross-origin-embedder-policy": "require-corp",
    "x-content-type-options": "nosniff",
}
CLIENT_FILE_HEADERS = {
    "access-control-allow-origin": "*",
    "cross-origin-resource-policy": "cross-origin",
    "x-content-type-options": "nosniff",
}
GENERATED = ("index.html", "manifest.json", "assets/FontManifest.json")


def client_version() -> str:
    """The path segment naming this client build: flet-web's release and our patches."""
    inputs = "|".join((flet_web_version, PATCH_REVISION, APP_NAME, APP_DESCRIPTION))
    return f"{flet_web_version}-{hashlib.sha256(inputs.encode()).hexdigest()[:8]}"


def patched_files(web_dir: Path, version: str) -> dict[str, MemoryFile]:
    """index.html (versioned base, our socket path, hash routes, no CDN) and the manifests."""
    with tempfile.TemporaryDirectory(prefix="flightdeck-ui-") as temp:
        for name in GENERATED:
            Path(temp, name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(web_dir / name, Path(temp, name))
        patch_index_html(
            index_path=str(Path(temp, "index.html")),
            base_href=f"/{CLIENT_PREFIX}/{version}/",
            websocket_endpoint_path=SESSION_SOCKET_PATH,
            app_name=APP_NAME,
            app_description=APP_DESCRIPTION,
            web_renderer=WebRenderer.AUTO,
            # Hash routes: a reload of /#/trips asks for `/` only, never for an API path.
            route_url_strategy=RouteUrlStrategy.HASH,
            no_cdn=True,
        )
        patch_manifest_json(
            str(Path(temp, "manifest.json")),
            app_name=APP_NAME,
            app_short_name=APP_NAME,
            app_description=APP_DESCRIPTION,
        )
        patch_font_manifest_json(str(Path(temp, "assets/FontManifest.json")))
        now = time.time()
        return {name: MemoryFile.of(name, Path(temp, name).read_bytes(), now) for name in GENERATED}


class ServedFrom:
    """The address this server answered a Flet session on: the app's API by default."""

    def __init__(self) -> None:
        self.url: str | None = None

    def remember(self, scope: Scope) -> None:
        server = scope.get("server")
        if self.url is not None or not server or server[1] is None:
            return
        host = str(server[0])
        try:
            if ipaddress.ip_address(host).version == 6:
                host = f"[{host}]"
        except ValueError:
            pass
        self.url = f"http://{host}:{server[1]}"


def _api_routes(scope: Scope) -> list[BaseRoute]:
    """The routes of the router that picked this mount, but this mount."""
    routes = getattr(scope.get("router"), "routes", ())
    return [r for r in routes if not (isinstance(r, Mount) and r.path == "")]


def _api_route_for_other_methods(scope: Scope) -> tuple[BaseRoute, Scope] | None:
    """The API route serving this path with other methods (Starlette's partial match), if any:
    the router picked this mount because it matches every path, over that partial match."""
    for route in _api_routes(scope):
        match, child_scope = route.matches(scope)
        if match is Match.PARTIAL:
            return route, child_scope
    return None


def _api_path_with_other_slash(scope: Scope) -> str | None:
    """The API path this one names with or without its trailing slash (`/flights/` for
    `/flights`), which the router would redirect to had this mount not matched first."""
    path = scope["path"]
    if path == "/" or path.startswith(f"/{CLIENT_PREFIX}/"):
        return None
    other = {**scope, "path": path.rstrip("/") if path.endswith("/") else path + "/"}
    if any(route.matches(other)[0] is not Match.NONE for route in _api_routes(other)):
        return str(other["path"])
    return None


class UiMount:
    """The app behind one guard, so the API answers as if the app were not mounted: a wrong
    method on an API path goes back to that route (405), a path off by a trailing slash is
    redirected to the API's own (307)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            if partial := _api_route_for_other_methods(scope):
                route, child_scope = partial
                scope.update(child_scope)
                await route.handle(scope, receive, send)
                return
            if other := _api_path_with_other_slash(scope):
                url = URL(scope=scope).replace(path=other)
                await RedirectResponse(url=str(url))(scope, receive, send)
                return
        await self.app(scope, receive, send)


async def _http_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
    return JSONResponse(
        error_payload(code, str(exc.detail)), status_code=exc.status_code, headers=exc.headers
    )


def build_ui_app(settings: Settings) -> ASGIApp:
    """The app as an ASGI app to mount at `/` (start `ui_running()` in the lifespan)."""
    web_dir = Path(get_package_web_dir())
    version = client_version()
    generated = patched_files(web_dir, version)
    page = generated.pop("index.html")
    files = ClientFiles(web_dir, generated, Path(settings.ui_asset_cache_dir), version)
    served_from = ServedFrom()
    main = make_main(
        lambda: settings.ui_api_url or served_from.url or "", signed_address_headers(settings)
    )

    async def index(request: Request) -> Response:
        return page.response(request, REVALIDATE, PAGE_HEADERS)

    async def client_file(request: Request) -> Response:
        if request.path_params["version"] != version:
            raise HTTPException(404)
        response = await files.response(request, request.path_params["path"], CLIENT_FILE_HEADERS)
        if response is None:
            raise HTTPException(404)
        return response

    async def flet_session(websocket: WebSocket) -> None:
        served_from.remember(websocket.scope)
        # The session's client is the browser as the platform sees it (through a trusted
        # gateway, its X-Forwarded-For): Flet takes `page.client_ip` from the scope.
        browser = resolve_connection_address(websocket, settings)
        client = websocket.scope.get("client") or (browser, 0)
        websocket.scope["client"] = (browser, client[1])
        await FletApp(
            loop=asyncio.get_running_loop(),
            executor=app_manager.executor,
            main=main,
            before_main=None,
            session_timeout_seconds=SESSION_KEEP_SECONDS,
        ).handle(websocket)

    app = Starlette(
        routes=[
            Route("/", index, methods=["GET", "HEAD"]),
            Route(
                f"/{CLIENT_PREFIX}/{{version}}/{{path:path}}", client_file, methods=["GET", "HEAD"]
            ),
            WebSocketRoute(SESSION_SOCKET_PATH, SessionSocket(flet_session)),
        ],
        exception_handlers={HTTPException: _http_error},
    )
    return UiMount(app)


class SessionSocket:
    """A session socket's endpoint as an ASGI app (so that Starlette hands it `receive`):
    `session` is served until it ends, or until `ended_with_the_socket` ends it."""

    def __init__(self, session: Callable[[WebSocket], Awaitable[None]]) -> None:
        self.session = session

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await ended_with_the_socket(
            lambda watched: self.session(WebSocket(scope, watched, send)), receive
        )


async def ended_with_the_socket(
    handler: Callable[[Receive], Awaitable[None]], receive: Receive
) -> None:
    """Runs a session socket's handler (given a `receive` that watches for the browser going)
    and ends it at most `SOCKET_END_GRACE_SECONDS` after the browser went.

    Flet 1.0.5's handler returns only after its send loop, which it stops only for a session
    that registered: a socket closed before that (a probe, a page closed while loading) kept
    its task forever, and uvicorn's graceful shutdown waited for it until the process was
    killed."""
    gone = asyncio.Event()

    async def watched() -> Message:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            gone.set()
        return message

    session = asyncio.ensure_future(handler(watched))
    browser_gone = asyncio.ensure_future(gone.wait())
    try:
        await asyncio.wait({session, browser_gone}, return_when=asyncio.FIRST_COMPLETED)
        if not session.done():
            await asyncio.wait({session}, timeout=SOCKET_END_GRACE_SECONDS)
    finally:
        browser_gone.cancel()
        if not session.done():
            session.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await session
    if not session.cancelled():
        session.result()  # the handler's own failure, if it had one


@asynccontextmanager
async def ui_running() -> AsyncIterator[None]:
    """Flet's session manager (evicts expired sessions); a mounted app's own lifespan is not
    run by Starlette, so ours runs it."""
    await app_manager.start()
    try:
        yield
    finally:
        await app_manager.shutdown()
