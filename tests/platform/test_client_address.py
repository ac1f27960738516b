"""The client address (platform/client_address.py): X-Forwarded-For is believed only from a
trusted proxy, read from the right; `flightdeck serve` does not let uvicorn believe it. The app's
server side names its browsers with a signed header that nobody else can make."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

import httpx
import pytest
from asgi_lifespan import LifespanManager
from starlette.requests import HTTPConnection
from tests.deploy.serve import flightdeck_serve

from flightdeck.app import create_app
from flightdeck.platform.client_address import (
    SIGNED_ADDRESS_HEADER,
    resolve_client_address,
    resolve_connection_address,
    sign_client_address,
    signed_address_headers,
    trusted_networks,
    verified_client_address,
)
from flightdeck.platform.settings import Settings

GATEWAYS = trusted_networks("10.0.0.0/8, 2001:db8::1")


@pytest.mark.parametrize(
    ("peer", "forwarded_for", "expected"),
    [
        # Not from a trusted proxy: the header is ignored, whatever it says.
        ("203.0.113.5", ["198.51.100.1"], "203.0.113.5"),
        ("127.0.0.1", ["198.51.100.1"], "127.0.0.1"),
        # From the gateway: the address it saw.
        ("10.0.0.2", ["198.51.100.1"], "198.51.100.1"),
        # A client's own X-Forwarded-For, passed on by the gateway: the rightmost address
        # no trusted proxy owns, so a client cannot choose it.
        ("10.0.0.2", ["6.6.6.6, 198.51.100.1"], "198.51.100.1"),
        ("10.0.0.2", ["6.6.6.6", "198.51.100.1, 10.0.0.9"], "198.51.100.1"),
        # Nothing, or only proxies: the innermost address the chain vouches for.
        ("10.0.0.2", [], "10.0.0.2"),
        ("10.0.0.2", ["10.0.0.7, 10.0.0.8"], "10.0.0.7"),
        # Garbage stops the walk at the last address a trusted hop vouched for.
        ("10.0.0.2", ["not-an-ip"], "10.0.0.2"),
        ("10.0.0.2", ["198.51.100.1, junk, 10.0.0.9"], "10.0.0.9"),
        # Ports, brackets, IPv6 and IPv4 seen through a dual-stack socket.
        ("10.0.0.2", ["198.51.100.1:4711"], "198.51.100.1"),
        ("2001:db8::1", ["[2001:db8::42]:443"], "2001:db8::42"),
        ("::ffff:10.0.0.2", ["198.51.100.1"], "198.51.100.1"),
        ("::ffff:203.0.113.5", ["198.51.100.1"], "203.0.113.5"),
        # No peer at all, or a peer that is not an address (a unix socket, a test transport).
        (None, ["198.51.100.1"], "unknown"),
        ("testclient", ["198.51.100.1"], "testclient"),
    ],
)
def test_client_address(peer: str | None, forwarded_for: list[str], expected: str) -> None:
    assert resolve_client_address(peer, forwarded_for, GATEWAYS) == expected


def test_without_trusted_proxies_the_header_is_never_read() -> None:
    assert resolve_client_address("10.0.0.2", ["198.51.100.1"], ()) == "10.0.0.2"


# --- `flightdeck serve` ------------------------------------------------------------------------


def _statuses_with_rotating_forwarded_for(base_url: str) -> list[int]:
    forwarded = [{"X-Forwarded-For": f"198.51.100.{n}"} for n in range(3)]
    return [httpx.get(f"{base_url}/airports", headers=h).status_code for h in forwarded]


def test_serve_ignores_forwarded_for_from_a_local_client(tmp_path: Path) -> None:
    # uvicorn's own proxy_headers would believe 127.0.0.1 and count each "address" apart.
    with flightdeck_serve(tmp_path, rate_limit_per_address="2/minute") as base_url:
        assert _statuses_with_rotating_forwarded_for(base_url) == [200, 200, 429]


def test_serve_believes_forwarded_for_from_a_trusted_proxy(tmp_path: Path) -> None:
    with flightdeck_serve(
        tmp_path, rate_limit_per_address="2/minute", trusted_proxies="127.0.0.1"
    ) as base_url:
        assert _statuses_with_rotating_forwarded_for(base_url) == [200, 200, 200]


# --- the app's signed client address -----------------------------------------------------------

SIGNER = Settings(jwt_secret="s" * 48)


def test_a_signed_address_is_believed_for_a_few_minutes() -> None:
    value = sign_client_address(SIGNER, "198.51.100.7", now=1_000_000)
    assert verified_client_address(SIGNER, value, now=1_000_000) == "198.51.100.7"
    assert verified_client_address(SIGNER, value, now=1_000_000 + 299) == "198.51.100.7"
    assert verified_client_address(SIGNER, value, now=1_000_000 + 301) is None


@pytest.mark.parametrize(
    "forge",
    [
        lambda v: v.replace("198.51.100.7", "198.51.100.8"),  # another address, same MAC
        lambda v: v[:-4] + "0000",  # a made-up MAC
        lambda v: v.rsplit(";", 1)[0],  # no MAC
        lambda v: "v2" + v[2:],  # an unknown version
        lambda v: "",
    ],
)
def test_a_forged_or_altered_signed_address_is_refused(forge: Callable[[str], str]) -> None:
    value = sign_client_address(SIGNER, "198.51.100.7", now=1_000_000)
    assert verified_client_address(SIGNER, forge(value), now=1_000_000) is None


def test_a_signature_made_with_another_secret_is_refused() -> None:
    other = Settings(jwt_secret="o" * 48)
    value = sign_client_address(other, "198.51.100.7")
    assert verified_client_address(SIGNER, value) is None


def test_the_header_factory_signs_addresses_only() -> None:
    headers = signed_address_headers(SIGNER)
    assert verified_client_address(SIGNER, headers("2001:db8::5")[SIGNED_ADDRESS_HEADER]) == (
        "2001:db8::5"
    )
    assert headers("") == {}
    assert headers("not-an-address") == {}


sqlite_only = pytest.mark.parametrize("settings", ["sqlite"], indirect=True)


@sqlite_only
@pytest.mark.asyncio(loop_scope="session")
async def test_app_users_behind_one_server_get_limits_of_their_own(settings: Settings) -> None:
    # The app's server side calls the API from one address (loopback) for every browser.
    limited = settings.model_copy(update={"rate_limit_per_address": "2/minute"})
    app = create_app(limited)
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 40000))
    headers = signed_address_headers(limited)
    async with (
        LifespanManager(app),
        httpx.AsyncClient(transport=transport, base_url="http://testserver") as http,
    ):
        await app.state.rate_limits.storage.reset()

        async def status(extra: Mapping[str, str]) -> int:
            return (await http.get("/airports?q=JFK", headers=dict(extra))).status_code

        first = [await status(headers("198.51.100.1")) for _ in range(3)]
        second = [await status(headers("198.51.100.2")) for _ in range(2)]
        # A header an outside client made up counts against its own (the peer's) address.
        forged = {SIGNED_ADDRESS_HEADER: "v1;198.51.100.3;1;" + "0" * 64}
        own = [await status(forged) for _ in range(3)]
        await app.state.rate_limits.storage.reset()
    assert first == [200, 200, 429]
    assert second == [200, 200]
    assert own == [200, 200, 429]


def _websocket_scope(peer: str, headers: Mapping[str, str]) -> HTTPConnection:
    raw = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    return HTTPConnection({"type": "websocket", "path": "/", "headers": raw, "client": (peer, 1)})


def test_the_app_session_sees_the_browser_through_the_trusted_gateway() -> None:
    behind_gateway = Settings(jwt_secret="s" * 48, trusted_proxies="10.0.0.0/8")
    from_gateway = _websocket_scope("10.0.0.2", {"X-Forwarded-For": "198.51.100.9"})
    assert resolve_connection_address(from_gateway, behind_gateway) == "198.51.100.9"
    # The same header straight from a client is not believed.
    direct = _websocket_scope("203.0.113.4", {"X-Forwarded-For": "198.51.100.9"})
    assert resolve_connection_address(direct, behind_gateway) == "203.0.113.4"
