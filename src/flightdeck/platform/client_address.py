"""The client's address, the one every limit and log line uses.

It is the direct peer's address, unless that peer is a trusted proxy (`FLIGHTDECK_TRUSTED_PROXIES`,
the gateway): then `X-Forwarded-For` is read from the right, skipping trusted hops, and the
first address no trusted proxy owns is the client's. From any other peer the header is
ignored, so a client cannot pick the address its limits are counted under.

uvicorn must not rewrite the peer from the header itself (`flightdeck serve` turns its
`proxy_headers` off); this module is the only place that believes the header.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import lru_cache
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address, ip_network

from starlette.requests import HTTPConnection

from flightdeck.platform.settings import Settings

IPAddress = IPv4Address | IPv6Address
IPNetwork = IPv4Network | IPv6Network

UNKNOWN = "unknown"
_STATE_KEY = "flightdeck.client_address"


@lru_cache(maxsize=8)
def trusted_networks(spec: str) -> tuple[IPNetwork, ...]:
    """`10.0.0.0/8, 127.0.0.1` → networks (settings validated the parts already)."""
    return tuple(ip_network(part.strip(), strict=False) for part in spec.split(",") if part.strip())


def _parse(text: str) -> IPAddress | None:
    text = text.strip()
    if text.startswith("[") and "]" in text:  # "[2001:db8::1]:443"
        text = text[1 : text.index("]")]
    elif text.count(":") == 1:  # "192.0.2.1:443"
        text = text.split(":", 1)[0]
    try:
        address = ip_address(text)
    except ValueError:
        return None
    if isinstance(address, IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped  # a dual-stack socket's view of an IPv4 peer
    return address


def _is_trusted(address: IPAddress, networks: Sequence[IPNetwork]) -> bool:
    return any(address in network for network in networks)


def resolve_client_address(
    peer: str | None, forwarded_for: Iterable[str], networks: Sequence[IPNetwork]
) -> str:
    """The client's address, from the peer and the X-Forwarded-For header values (in order)."""
    if peer is None:
        return UNKNOWN
    current = _parse(peer)
    if current is None:
        return peer  # not an IP (a unix socket, a test transport): the peer names itself
    if not networks or not _is_trusted(current, networks):
        return str(current)
    hops = [hop for value in forwarded_for for hop in value.split(",") if hop.strip()]
    for hop in reversed(hops):
        address = _parse(hop)
        if address is None:
            break  # garbage: keep the last address a trusted hop vouched for
        current = address
        if not _is_trusted(address, networks):
            break
    return str(current)


def client_address(connection: HTTPConnection) -> str:
    """The request's client address (computed once per request, then kept in its state)."""
    state = connection.scope.setdefault("state", {})
    cached = state.get(_STATE_KEY)
    if isinstance(cached, str):
        return cached
    settings: Settings | None = getattr(connection.app.state, "settings", None)
    networks = trusted_networks(settings.trusted_proxies) if settings is not None else ()
    client = connection.scope.get("client")
    peer = client[0] if client else None
    forwarded = connection.headers.getlist("x-forwarded-for")
    address = resolve_client_address(peer, forwarded, networks)
    state[_STATE_KEY] = address
    return address
