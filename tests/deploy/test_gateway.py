"""The gateway (deploy/nginx.conf) checked by nginx itself and run for real in front of a
`flightdeck serve`: routing by path, the client address it hands on, request ids, WebSocket
upgrade, ui affinity, body size, slow bodies and its own errors in the one error shape."""

from __future__ import annotations

import asyncio
import re
import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import websockets

from tests.deploy.gateway import (
    GATEWAY_CONFIG,
    check_config,
    render_gateway_config,
    running_gateway,
    upstream_hosts,
)
from tests.deploy.serve import flightdeck_serve, free_port

SERVICES = ("users", "flights", "search", "bookings", "payments", "notifications", "admin", "ui")

# Which service the gateway sends each API path to (docs/API.md); "ui" takes the rest.
OWNER_BY_PREFIX = {
    "/register": "users",
    "/login": "users",
    "/profile": "users",
    "/flights": "flights",
    "/schedules": "flights",
    "/airports": "flights",
    "/search": "search",
    "/bookings": "bookings",
    "/payments": "payments",
    "/notifications": "notifications",
    "/ws": "notifications",
    "/admin": "admin",
    "/openapi.json": "flights",
    "/docs": "flights",
    "/redoc": "flights",
}
GATEWAY_ONLY = {"/healthz", "/readyz", "/metrics"}  # not passed to any service
UNAVAILABLE = "The service is unavailable; try again shortly"


def expected_owner(path: str) -> str:
    for prefix, owner in OWNER_BY_PREFIX.items():
        if path == prefix or path.startswith(prefix + "/"):
            return owner
    return "ui"


# --- the file itself ---------------------------------------------------------------------------


def test_every_service_has_an_upstream_by_its_service_name() -> None:
    hosts = upstream_hosts(GATEWAY_CONFIG.read_text())
    assert set(hosts) == set(SERVICES)
    assert all(servers == [f"{name}:8000"] for name, servers in hosts.items())


def test_nginx_accepts_the_gateway_with_several_instances_per_service(tmp_path: Path) -> None:
    upstreams = {name: [f"127.0.0.1:{9100 + 10 * n + i}" for i in range(3)]
                 for n, name in enumerate(SERVICES)}  # fmt: skip
    config = render_gateway_config(upstreams, listen_port=free_port(), run_dir=tmp_path)
    assert config.count("server 127.0.0.1:") == 3 * len(SERVICES)
    result = check_config(config, tmp_path)
    assert result.returncode == 0, result.stderr
    assert "test is successful" in result.stderr


def test_nginx_refuses_a_broken_gateway(tmp_path: Path) -> None:
    # The check above can fail: a directive nginx does not know is reported.
    config = render_gateway_config(
        {}, listen_port=free_port(), run_dir=tmp_path, replacements={"gzip on;": "gzip maybe;"}
    )
    result = check_config(config, tmp_path)
    assert result.returncode != 0
    assert "gzip" in result.stderr


def test_client_addresses_are_set_by_the_gateway_not_appended() -> None:
    config = GATEWAY_CONFIG.read_text()
    assert "proxy_set_header X-Forwarded-For $remote_addr;" in config
    assert "proxy_set_header X-Real-IP $remote_addr;" in config
    assert "$proxy_add_x_forwarded_for" not in config


# --- a real nginx in front of a real server ------------------------------------------------------


@pytest.fixture(scope="module")
def app_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One `flightdeck serve` (every service) that trusts the gateway on 127.0.0.1, with a
    small per-address limit to see which address it counts."""
    workdir = tmp_path_factory.mktemp("gateway-app")
    with flightdeck_serve(
        workdir,
        migrate=True,
        trusted_proxies="127.0.0.1",
        rate_limit_per_address="1000/minute",
        jwt_secret="gateway-test-" + "x" * 40,
    ) as url:
        yield url


def _gateway_to(
    app_url: str, run_dir: Path, *services: str, replacements: dict[str, str] | None = None
) -> tuple[str, int]:
    """The gateway config with these services' upstreams on the app (others unavailable)."""
    port = free_port()
    app = app_url.removeprefix("http://")
    config = render_gateway_config(
        {name: [app] for name in services},
        listen_port=port,
        run_dir=run_dir,
        replacements=replacements,
    )
    return config, port


def _concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "x", path)


def test_each_path_of_the_api_goes_to_its_service(app_url: str, tmp_path: Path) -> None:
    paths = [*sorted(httpx.get(f"{app_url}/openapi.json").json()["paths"]), "/", "/app/page"]
    for service in SERVICES:
        run_dir = tmp_path / service
        config, port = _gateway_to(app_url, run_dir, service)
        with running_gateway(config, run_dir, port) as gateway:
            for path in paths:
                if path in GATEWAY_ONLY:
                    continue
                response = httpx.get(gateway + _concrete(path))
                reached = UNAVAILABLE not in response.text
                assert reached == (expected_owner(path) == service), (service, path, response)


def test_the_gateway_keeps_ops_endpoints_to_itself(app_url: str, tmp_path: Path) -> None:
    config, port = _gateway_to(app_url, tmp_path, *SERVICES)
    with running_gateway(config, tmp_path, port) as gateway:
        assert httpx.get(f"{gateway}/healthz").json() == {"status": "ok"}
        assert httpx.get(f"{gateway}/metrics").status_code == 404
        assert httpx.get(f"{gateway}/readyz").status_code == 404


def test_the_service_counts_the_address_the_gateway_saw_not_the_one_claimed(
    tmp_path: Path,
) -> None:
    with flightdeck_serve(
        tmp_path, trusted_proxies="127.0.0.1", rate_limit_per_address="3/minute"
    ) as app:
        config, port = _gateway_to(app, tmp_path / "gw", *SERVICES)
        with running_gateway(config, tmp_path / "gw", port) as gateway:
            statuses = [
                httpx.get(
                    f"{gateway}/airports", headers={"X-Forwarded-For": f"198.51.100.{n}"}
                ).status_code
                for n in range(4)
            ]
    assert statuses == [200, 200, 200, 429]


def test_request_ids_pass_through_or_are_generated(app_url: str, tmp_path: Path) -> None:
    config, port = _gateway_to(app_url, tmp_path, *SERVICES)
    with running_gateway(config, tmp_path, port) as gateway:
        given = httpx.get(f"{gateway}/airports", headers={"X-Request-ID": "client-abc-12345"})
        generated = httpx.get(f"{gateway}/airports")
        malformed = httpx.get(f"{gateway}/airports", headers={"X-Request-ID": "bad id<>"})
        on_error = httpx.get(f"{gateway}/metrics")
    assert given.headers.get_list("X-Request-ID") == ["client-abc-12345"]
    assert re.fullmatch(r"[0-9a-f]{32}", generated.headers["X-Request-ID"])
    assert re.fullmatch(r"[0-9a-f]{32}", malformed.headers["X-Request-ID"])
    assert re.fullmatch(r"[0-9a-f]{32}", on_error.headers["X-Request-ID"])


def test_websocket_upgrade_reaches_the_notifications_service(app_url: str, tmp_path: Path) -> None:
    config, port = _gateway_to(app_url, tmp_path, "notifications")

    async def handshake() -> int | None:
        async with websockets.connect(f"ws://127.0.0.1:{port}/ws?token=not-a-token") as socket_:
            with pytest.raises(websockets.ConnectionClosed):
                await socket_.recv()
            return socket_.close_code

    with running_gateway(config, tmp_path, port):
        # Upgraded through the gateway, then closed by the service: not signed in.
        assert asyncio.run(handshake()) == 4401


def test_a_browser_is_kept_on_one_ui_instance(app_url: str, tmp_path: Path) -> None:
    config, port = _gateway_to(app_url, tmp_path, *SERVICES)
    with running_gateway(config, tmp_path, port) as gateway:
        first = httpx.get(f"{gateway}/")
        cookie = first.cookies["flightdeck_ui"]
        again = httpx.get(f"{gateway}/", cookies={"flightdeck_ui": cookie})
    assert re.fullmatch(r"[0-9a-f]{32}", cookie)
    assert "HttpOnly" in first.headers["Set-Cookie"]
    assert "set-cookie" not in again.headers  # the browser keeps its instance
    assert "hash $ui_affinity consistent;" in config


def test_big_bodies_are_refused_in_the_error_shape(app_url: str, tmp_path: Path) -> None:
    config, port = _gateway_to(app_url, tmp_path, *SERVICES)
    with running_gateway(config, tmp_path, port) as gateway:
        response = httpx.post(f"{gateway}/bookings", content=b"x" * (2 * 1024 * 1024))
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"


def test_the_gateway_limits_sign_in_attempts_per_address(app_url: str, tmp_path: Path) -> None:
    config, port = _gateway_to(app_url, tmp_path, *SERVICES)
    with running_gateway(config, tmp_path, port) as gateway:
        # GET is cheap for the service (405): only the gateway's 2/s (bursts of 10) is tested.
        responses = [httpx.get(f"{gateway}/login") for _ in range(25)]
    statuses = [response.status_code for response in responses]
    assert statuses[:11] == [405] * 11
    assert 429 in statuses
    limited = next(response for response in responses if response.status_code == 429)
    assert limited.json()["error"] == {
        "code": "rate_limited",
        "message": "Too many requests; slow down",
        "details": {"retry_after_seconds": 1},
    }
    assert limited.headers["Retry-After"] == "1"


def test_a_client_that_never_finishes_its_body_is_cut_off(app_url: str, tmp_path: Path) -> None:
    slow = {"client_body_timeout 10s;": "client_body_timeout 1s;"}
    config, port = _gateway_to(app_url, tmp_path, *SERVICES, replacements=slow)
    with (
        running_gateway(config, tmp_path, port),
        socket.create_connection(("127.0.0.1", port)) as raw,
    ):
        raw.sendall(
            b"POST /bookings HTTP/1.1\r\nHost: gateway\r\nContent-Type: application/json\r\n"
            b'Content-Length: 100\r\n\r\n{"segments":'
        )
        raw.settimeout(30)  # a bound for the test, far above the gateway's 1 s
        answer = b""
        while chunk := raw.recv(4096):
            answer += chunk
    # The gateway hangs up on a body that stopped arriving, without passing it on.
    # Its access log: 408, and no upstream address (the service never saw it).
    assert answer == b""
    log = (tmp_path / "nginx.out").read_text()
    assert re.search(r'"POST /bookings HTTP/1.1" 408 0 [\d.]+ - - rid=', log), log
