"""The client's address, the one every limit and log line uses.

It is the direct peer's address, unless that peer is a trusted proxy (`FLIGHTDECK_TRUSTED_PROXIES`,
the gateway): then `X-Forwarded-For` is read from the right, skipping trusted hops, and the
first address no trusted proxy owns is the client's. From any other peer the header is
ignored, so a client cannot pick the address its limits are counted under.

uvicorn must not rewrite the peer from the header itself (`flightdeck serve` turns its
`proxy_headers` off); this module is the only place that believes the header.

One more source is believed from any peer: `X-FlightDeck-Client-Address`, which the app at `/`
(flightdeck.ui, whose server side calls the API on its users' behalf, over loopback or through
the gateway) sends with the browser's address, signed with a key derived from the server's
secret (HMAC-SHA256, valid for a few minutes). Without a valid signature it is ignored, so an
outside client cannot forge it, and each app user keeps limits of their own.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from functools import lru_cache
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address, ip_network

from prometheus_client import Counter
from starlette.requests import HTTPConnection

from flightdeck.platform.security.tokens import jwt_secret
from flightdeck.platform.settings import Settings

IPAddress = IPv4Address | IPv6Address
IPNetwork = IPv4Network | IPv6Network

UNKNOWN = "unknown"
_STATE_KEY = "flightdeck.client_address"

SIGNED_ADDRESS_HEADER = "X-FlightDeck-Client-Address"
# Long enough for clock skew between instances; short enough that a header seen in a log is
# soon worthless.
SIGNED_ADDRESS_MAX_AGE_SECONDS = 300
_SIGNATURE_VERSION = "v1"

SIGNED_ADDRESSES_REFUSED = Counter(
    "flightdeck_signed_client_address_refused_total",
    "Signed client-address headers ignored (bad signature, expired or malformed)",
)


@lru_cache(maxsize=8)
def trusted_networks(spec: str) -> tuple[IPNetwork, ...]:
    """`10.0.0.0/8, 127.0.0.1` → networks (settings validated the parts already)."""
    return tuple(ip_network(part.strip(), strict=False) for part in spec.split(",") if part.strip())


# Every request parses its peer (and a proxy's hops): the same few addresses again and again.
@lru_cache(maxsize=4096)
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


@lru_cache(maxsize=4)
def _signing_key(secret: str) -> bytes:
    # A key of its own, derived from the server's secret: a signed address is no token.
    return hmac.new(secret.encode(), b"flightdeck client address v1", hashlib.sha256).digest()


def _mac(settings: Settings, payload: str) -> str:
    key = _signing_key(jwt_secret(settings))
    return hmac.new(key, payload.encode(), hashlib.sha256).hexdigest()


def sign_client_address(settings: Settings, address: str, *, now: float | None = None) -> str:
    """The `X-FlightDeck-Client-Address` value vouching for `address` from now on."""
    issued = int(time.time() if now is None else now)
    payload = f"{_SIGNATURE_VERSION};{address};{issued}"
    return f"{payload};{_mac(settings, payload)}"


def verified_client_address(
    settings: Settings, value: str, *, now: float | None = None
) -> str | None:
    """The address a signed header vouches for; None when it is forged, expired or garbled."""
    parts = value.strip().split(";")
    if len(parts) != 4 or parts[0] != _SIGNATURE_VERSION or not parts[2].isdigit():
        return None
    payload, mac = ";".join(parts[:3]), parts[3]
    if not hmac.compare_digest(_mac(settings, payload), mac):
        return None
    age = (time.time() if now is None else now) - int(parts[2])
    if abs(age) > SIGNED_ADDRESS_MAX_AGE_SECONDS:
        return None
    address = _parse(parts[1])
    return str(address) if address is not None else None


def signed_address_headers(settings: Settings) -> Callable[[str], Mapping[str, str]]:
    """A header factory for a client that calls the API on someone's behalf (the app's server
    side): `address → {"X-FlightDeck-Client-Address": <signed, fresh>}`; nothing for an
    address that is not one."""

    def headers(address: str) -> Mapping[str, str]:
        if _parse(address) is None:
            return {}
        return {SIGNED_ADDRESS_HEADER: sign_client_address(settings, address)}

    return headers


def resolve_connection_address(connection: HTTPConnection, settings: Settings | None) -> str:
    """The client address of a request or WebSocket under `settings`: a validly signed
    `X-FlightDeck-Client-Address`, else the peer or, from a trusted proxy, X-Forwarded-For."""
    if settings is not None and (signed := connection.headers.get(SIGNED_ADDRESS_HEADER)):
        address = verified_client_address(settings, signed)
        if address is not None:
            return address
        SIGNED_ADDRESSES_REFUSED.inc()
    networks = trusted_networks(settings.trusted_proxies) if settings is not None else ()
    client = connection.scope.get("client")
    peer = client[0] if client else None
    forwarded = connection.headers.getlist("x-forwarded-for")
    return resolve_client_address(peer, forwarded, networks)


def client_address(connection: HTTPConnection) -> str:
    """The request's client address (computed once per request, then kept in its state)."""
    state = connection.scope.setdefault("state", {})
    cached = state.get(_STATE_KEY)
    if isinstance(cached, str):
        return cached
    settings: Settings | None = getattr(connection.app.state, "settings", None)
    address = resolve_connection_address(connection, settings)
    state[_STATE_KEY] = address
    return address
