"""The client address (platform/client_address.py): X-Forwarded-For is believed only from a
trusted proxy, read from the right; `flightdeck serve` does not let uvicorn believe it."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from tests.deploy.serve import flightdeck_serve

from flightdeck.platform.client_address import resolve_client_address, trusted_networks

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
