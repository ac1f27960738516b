"""Serving the app: the page revalidated, the client's files versioned, immutable and
compressed (kept compressed on disk), the API's paths and error shape untouched."""

from __future__ import annotations

import gzip
import re
from collections.abc import AsyncIterator
from pathlib import Path

import brotli
import httpx
import pytest
import pytest_asyncio
from fastapi import FastAPI
from flet_web import get_package_web_dir

from flightdeck.platform.errors import install_error_handlers
from flightdeck.platform.settings import Settings
from flightdeck.ui.server import build_ui_app
from flightdeck.ui.server.assets import IMMUTABLE, preferred_encoding
from flightdeck.ui.server.mount import SESSION_SOCKET_PATH, client_version
from tests.conftest import assert_error

WEB_DIR = Path(get_package_web_dir())
BOOTSTRAP = "flutter_bootstrap.js"


@pytest.fixture
def cache_dir(tmp_path: Path) -> Path:
    return tmp_path / "ui-cache"


@pytest_asyncio.fixture(loop_scope="session")
async def http(cache_dir: Path) -> AsyncIterator[httpx.AsyncClient]:
    """The app mounted at / behind one API route, as create_app mounts it."""
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    app.mount("/", build_ui_app(Settings(ui_asset_cache_dir=str(cache_dir))))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


def client_file(name: str) -> str:
    return f"/_flet/{client_version()}/{name}"


async def test_page_is_served_at_the_root_and_revalidated(http: httpx.AsyncClient) -> None:
    page = await http.get("/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert page.headers["cache-control"] == "no-cache"
    assert page.headers["cross-origin-embedder-policy"] == "require-corp"
    again = await http.get("/", headers={"If-None-Match": page.headers["etag"]})
    assert again.status_code == 304
    assert again.content == b""


async def test_page_loads_the_versioned_client_without_a_cdn(http: httpx.AsyncClient) -> None:
    html = (await http.get("/")).text
    assert f'<base href="/_flet/{client_version()}/">' in html
    assert f'flet.webSocketEndpoint="{SESSION_SOCKET_PATH}"' in html
    assert "flet.noCdn=true;" in html
    assert 'flet.routeUrlStrategy="hash";' in html  # reloading #/trips asks for / only
    assert "<title>FlightDeck</title>" in html
    assert not re.search(r"https?://", html.split("<body>", 1)[1])


async def test_client_files_are_immutable_and_sent_brotli_or_gzip(
    http: httpx.AsyncClient,
) -> None:
    original = (WEB_DIR / BOOTSTRAP).read_bytes()
    by_encoding = {}
    for accepted in ("br", "gzip", "identity"):
        response = await http.get(client_file(BOOTSTRAP), headers={"Accept-Encoding": accepted})
        assert response.status_code == 200
        assert response.headers["cache-control"] == IMMUTABLE
        assert response.headers["vary"] == "Accept-Encoding"
        by_encoding[accepted] = response
    # httpx undoes gzip and brotli itself; the bytes on the wire are checked raw.
    raw_br = brotli.decompress(await _raw(http, client_file(BOOTSTRAP), "br"))
    assert raw_br == original
    assert gzip.decompress(await _raw(http, client_file(BOOTSTRAP), "gzip")) == original
    assert by_encoding["br"].headers["content-encoding"] == "br"
    assert by_encoding["gzip"].headers["content-encoding"] == "gzip"
    assert "content-encoding" not in by_encoding["identity"].headers
    assert by_encoding["identity"].content == original


async def _raw(http: httpx.AsyncClient, path: str, encoding: str) -> bytes:
    async with http.stream("GET", path, headers={"Accept-Encoding": encoding}) as response:
        return b"".join([chunk async for chunk in response.aiter_raw()])


async def test_a_compressed_copy_is_made_once_and_kept(
    http: httpx.AsyncClient, cache_dir: Path
) -> None:
    await http.get(client_file(BOOTSTRAP), headers={"Accept-Encoding": "br"})
    first = compressed_copies(cache_dir)
    assert len(first) == 1
    await http.get(client_file(BOOTSTRAP), headers={"Accept-Encoding": "br"})
    assert compressed_copies(cache_dir) == first  # the same file, not written again


def compressed_copies(cache_dir: Path) -> dict[Path, int]:
    """The brotli copies of the bootstrap script, with when each was written."""
    return {p: p.stat().st_mtime_ns for p in cache_dir.rglob(f"{BOOTSTRAP}.*.br")}


async def test_a_client_file_revalidates_by_its_etag(http: httpx.AsyncClient) -> None:
    first = await http.get(client_file(BOOTSTRAP), headers={"Accept-Encoding": "br"})
    again = await http.get(
        client_file(BOOTSTRAP),
        headers={"Accept-Encoding": "br", "If-None-Match": first.headers["etag"]},
    )
    assert again.status_code == 304
    other_encoding = await http.get(
        client_file(BOOTSTRAP),
        headers={"Accept-Encoding": "gzip", "If-None-Match": first.headers["etag"]},
    )
    assert other_encoding.status_code == 200  # each encoding is its own representation


async def test_images_are_sent_as_they_are(http: httpx.AsyncClient) -> None:
    response = await http.get(client_file("favicon.png"), headers={"Accept-Encoding": "br"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/png"
    assert "content-encoding" not in response.headers


@pytest.mark.parametrize(
    "path",
    [
        "/_flet/0.0.0-00000000/flutter_bootstrap.js",  # another build's files
        client_file("no-such-file.js"),
        client_file("%2e%2e/%2e%2e/patch_index.py"),  # out of the web directory
        client_file("canvaskit"),  # a directory
        "/no-such-page",
    ],
)
async def test_anything_else_is_a_404_in_the_error_shape(
    http: httpx.AsyncClient, path: str
) -> None:
    assert_error(await http.get(path), 404, "not_found")


async def test_api_routes_keep_their_answers(http: httpx.AsyncClient) -> None:
    assert (await http.get("/healthz")).json()["status"] == "ok"
    wrong_method = await http.post("/healthz")
    assert_error(wrong_method, 405, "method_not_allowed")
    assert wrong_method.headers["allow"] == "GET"
    assert_error(await http.post("/"), 405, "method_not_allowed")
    slash = await http.get("/healthz/")  # redirected as FastAPI does (redirect_slashes)
    assert slash.status_code == 307
    assert slash.headers["location"] == "http://testserver/healthz"


async def test_the_server_serves_the_app_at_its_root(client: httpx.AsyncClient) -> None:
    page = await client.get("/")
    assert page.status_code == 200
    assert f"/_flet/{client_version()}/" in page.text
    assert (await client.get("/healthz")).json()["status"] == "ok"  # the API answers
    assert_error(await client.get("/no-such-thing"), 404, "not_found")


@pytest.mark.parametrize(
    ("header", "chosen"),
    [
        ("gzip, deflate, br", "br"),
        ("gzip", "gzip"),
        ("br;q=0, gzip;q=0.5", "gzip"),
        ("*", "br"),
        ("identity", None),
        ("", None),
    ],
)
def test_encoding_follows_accept_encoding(header: str, chosen: str | None) -> None:
    assert preferred_encoding(header) == chosen
