"""What every request goes through before and after its route (platform/middleware.py and the
error handlers): an unexpected error is one complete 500 in the error shape on a connection
that stays usable; bodies are capped while they stream in; an unreadable body is a 4xx, after
the 401 of a protected route; a 405 names every method of the path."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import socket
from collections.abc import AsyncIterator

import httpx
import pytest
import pytest_asyncio
from fastapi import FastAPI, Request
from tests.conftest import TestUser, assert_error, make_settings
from tests.servers.flightdeck_app import serving

from flightdeck.app import create_app
from flightdeck.flights.status.feed import signed_headers
from flightdeck.modules import SERVICES
from flightdeck.notifications.ws import handle_client_message
from flightdeck.payments.gateways import configure_gateway
from flightdeck.payments.gateways.base import InvalidWebhook
from flightdeck.payments.gateways.sandbox import SIGNATURE_HEADER, SandboxGateway, sign_webhook
from flightdeck.payments.gateways.stripe_gateway import StripeGateway
from flightdeck.platform.clock import utcnow
from flightdeck.platform.security.auth import CurrentPrincipal
from flightdeck.platform.settings import Settings

pytestmark = pytest.mark.asyncio(loop_scope="session")

# Far deeper than Python's recursion limit, small enough for every body cap (40 kB).
DEEP_JSON = b"[" * 20_000 + b"]" * 20_000
SMALL_LIMIT = 64 * 1024


def guarded_app(settings: Settings) -> FastAPI:
    """The app as `create_app` builds it (every middleware and handler), plus routes that
    misbehave; served without its lifespan, so nothing here touches a database. The app at `/`
    (the ui service) is left out: its mount would answer the routes added here."""
    app = create_app(settings, services=[s for s in SERVICES if s != "ui"])
    app.state.settings = settings

    @app.get("/boom")
    async def boom() -> dict[str, str]:
        raise RuntimeError("an unexpected bug")

    @app.post("/echo-size")
    async def echo_size(request: Request) -> dict[str, int]:
        return {"bytes": len(await request.body())}

    @app.post("/signed-in")
    async def signed_in(body: dict[str, int], principal: CurrentPrincipal) -> dict[str, int]:
        return body

    return app


@pytest_asyncio.fixture(loop_scope="session")
async def guarded_url() -> AsyncIterator[str]:
    settings = make_settings("sqlite+aiosqlite:///:memory:").model_copy(
        update={"max_body_bytes": SMALL_LIMIT}
    )
    async with serving(guarded_app(settings)) as url:
        yield url


def _address(url: str) -> tuple[str, int]:
    host, port = url.removeprefix("http://").split(":")
    return host, int(port)


def _read_response(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """One HTTP/1.1 response read off the socket: status, headers, body (Content-Length)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"connection closed before a complete response: {data!r}"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, v in (h.split(":", 1) for h in header_lines)}
    while len(body) < int(headers["content-length"]):
        chunk = sock.recv(65536)
        assert chunk, "connection closed in the middle of the body"
        body += chunk
    return int(status_line.split()[1]), headers, body


def _keep_alive_exchange(url: str) -> list[tuple[int, dict[str, str], bytes]]:
    host, port = _address(url)
    with socket.create_connection((host, port), timeout=10) as sock:
        responses = []
        for path in ("/boom", "/healthz"):
            sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
            responses.append(_read_response(sock))
        return responses


async def test_after_an_unexpected_error_the_kept_alive_connection_answers_the_next_request(
    guarded_url: str,
) -> None:
    (status, headers, body), (next_status, _, next_body) = await asyncio.to_thread(
        _keep_alive_exchange, guarded_url
    )

    assert status == 500
    assert headers.get("connection", "").lower() != "close"
    assert json.loads(body) == {
        "error": {"code": "internal_error", "message": "Internal server error", "details": {}}
    }
    assert (next_status, json.loads(next_body)["status"]) == (200, "ok")


def _stream_chunked_body(url: str, total: int) -> tuple[int, dict[str, str], bytes, int]:
    """Sends a chunked body of `total` bytes until the server answers; returns the answer
    and how many bytes had been sent when it came."""
    host, port = _address(url)
    with socket.create_connection((host, port), timeout=10) as sock:
        sock.sendall(
            f"POST /echo-size HTTP/1.1\r\nHost: {host}\r\nTransfer-Encoding: chunked\r\n"
            "Content-Type: application/json\r\n\r\n".encode()
        )
        sent, chunk = 0, b"x" * 16384
        sock.settimeout(0.05)
        while sent < total:
            try:
                sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            except OSError:
                break  # the server answered and stopped reading
            sent += len(chunk)
            try:
                if sock.recv(1, socket.MSG_PEEK):
                    break
            except TimeoutError:
                continue
        sock.settimeout(10)
        status, headers, body = _read_response(sock)
        return status, headers, body, sent


async def test_a_chunked_body_over_the_cap_is_cut_off_with_413_while_it_streams(
    guarded_url: str,
) -> None:
    total = 10 * 1024 * 1024
    status, headers, body, sent = await asyncio.to_thread(_stream_chunked_body, guarded_url, total)

    assert status == 413
    assert json.loads(body)["error"]["code"] == "payload_too_large"
    assert headers["connection"] == "close"
    assert sent < total / 4, "the server read far past its cap before answering"


async def test_a_declared_length_over_the_cap_is_413_before_the_app_reads_anything(
    guarded_url: str,
) -> None:
    async with httpx.AsyncClient(base_url=guarded_url) as http:
        response = await http.post("/echo-size", content=b"x" * (SMALL_LIMIT + 1))
        within = await http.post("/echo-size", content=b"x" * SMALL_LIMIT)

    assert_error(response, 413, "payload_too_large")
    assert within.json() == {"bytes": SMALL_LIMIT}


async def test_a_json_body_over_a_megabyte_is_413_on_the_app(client: httpx.AsyncClient) -> None:
    body = json.dumps({"email": "a" * (1024 * 1024), "password": "x"}).encode()

    response = await client.post(
        "/register", content=body, headers={"Content-Type": "application/json"}
    )

    assert_error(response, 413, "payload_too_large")


async def test_a_multipart_upload_may_be_larger_than_a_json_body(
    client: httpx.AsyncClient, agent: TestUser
) -> None:
    two_megabytes = b"1AIRLINE" + b" " * (2 * 1024 * 1024)

    response = await client.post(
        "/schedules/import", files={"file": ("big.ssim", two_megabytes)}, headers=agent.headers
    )

    # Past the 1 MB JSON cap, within the upload cap: the importer reads it (and finds no leg).
    assert_error(response, 422, "invalid_ssim")


@pytest.mark.parametrize(
    ("path", "content_type"),
    [
        ("/register", "application/json"),
        ("/login", "application/json"),
        ("/login/refresh", "application/json"),
    ],
)
async def test_deeply_nested_json_is_400_never_a_recursion_error(
    client: httpx.AsyncClient, path: str, content_type: str
) -> None:
    response = await client.post(path, content=DEEP_JSON, headers={"Content-Type": content_type})

    assert_error(response, 400, "invalid_body")


async def test_deeply_nested_json_in_a_signed_status_feed_update_is_a_4xx(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    secret = "feed-secret"
    app.state.settings = app.state.settings.model_copy(update={"status_feed_secret": secret})
    try:
        response = await client.post(
            "/flights/status-feed", content=DEEP_JSON, headers=signed_headers(secret, DEEP_JSON)
        )
    finally:
        app.state.settings = app.state.settings.model_copy(update={"status_feed_secret": ""})

    assert_error(response, 422, "validation_error")


async def test_deeply_nested_json_in_a_signed_payment_webhook_is_a_4xx(
    client: httpx.AsyncClient,
) -> None:
    secret = "whsec_guard_" + "s" * 24
    previous = configure_gateway(SandboxGateway(webhook_secret=secret))
    try:
        response = await client.post(
            "/payments/webhooks/sandbox",
            content=DEEP_JSON,
            headers={SIGNATURE_HEADER: sign_webhook(secret, DEEP_JSON)},
        )
    finally:
        configure_gateway(previous)

    assert_error(response, 400, "invalid_signature")


async def test_the_stripe_gateway_refuses_deeply_nested_json_as_an_invalid_webhook() -> None:
    secret = "whsec_guard_" + "s" * 24
    gateway = StripeGateway(api_key="sk_test_unset", webhook_secret=secret)
    stamp = int(utcnow().timestamp())
    mac = hmac.new(secret.encode(), f"{stamp}.".encode() + DEEP_JSON, hashlib.sha256)
    headers = {"Stripe-Signature": f"t={stamp},v1={mac.hexdigest()}"}

    with pytest.raises(InvalidWebhook):
        gateway.parse_webhook(DEEP_JSON, headers)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/flights"),
        ("POST", "/bookings"),
        ("PATCH", "/profile"),
        ("POST", "/payments"),
        ("POST", "/notifications"),
        ("PUT", "/flights/0b7d5c2e-8f4a-4e1b-9a53-2f6d1c9e7a10/status"),
    ],
)
@pytest.mark.parametrize("body", [b"{not json", b"\xff\xfe\x00", DEEP_JSON])
async def test_a_protected_route_answers_401_before_looking_at_an_unreadable_body(
    client: httpx.AsyncClient, method: str, path: str, body: bytes
) -> None:
    headers = {"Content-Type": "application/json"}
    missing = await client.request(method, path, content=body, headers=headers)
    forged = await client.request(
        method, path, content=body, headers={**headers, "Authorization": "Bearer forged"}
    )

    assert_error(missing, 401, "not_authenticated")
    assert_error(forged, 401, "invalid_token")


@pytest.mark.parametrize(
    ("method", "path", "body", "headers"),
    [
        # Routes that sign their user in themselves (bookings/router.py): FastAPI validates
        # the body, header and path before they run.
        ("POST", "/bookings", b"{}", {}),
        ("POST", "/bookings", b'{"segments": "no"}', {"Idempotency-Key": "k" * 300}),
        ("GET", "/bookings/not a booking!", b"", {}),
        # A route whose dependency checks the token: the dependency runs first.
        ("POST", "/flights", b"{}", {}),
    ],
)
async def test_a_protected_route_answers_401_before_a_request_that_does_not_validate(
    client: httpx.AsyncClient, method: str, path: str, body: bytes, headers: dict[str, str]
) -> None:
    headers = {**headers, "Content-Type": "application/json"}
    missing = await client.request(method, path, content=body, headers=headers)
    forged = await client.request(
        method, path, content=body, headers={**headers, "Authorization": "Bearer forged"}
    )

    assert_error(missing, 401, "not_authenticated")
    assert_error(forged, 401, "invalid_token")


async def test_signed_in_a_booking_request_that_does_not_validate_is_a_422_naming_the_field(
    client: httpx.AsyncClient, passenger: TestUser
) -> None:
    headers = {**passenger.headers, "Content-Type": "application/json"}

    body = await client.post("/bookings", content=b'{"segments": "no"}', headers=headers)
    key = await client.post(
        "/bookings",
        content=b'{"segments": ["f"], "passengers": []}',
        headers={**headers, "Idempotency-Key": "k" * 300},
    )
    path = await client.get("/bookings/not a booking!", headers=passenger.headers)

    assert_error(body, 422, "validation_error")
    assert {e["field"] for e in body.json()["error"]["details"]["errors"]} >= {
        "body.segments",
        "body.passengers",
    }
    assert_error(key, 422, "validation_error")
    assert "header.Idempotency-Key" in {
        e["field"] for e in key.json()["error"]["details"]["errors"]
    }
    assert_error(path, 422, "validation_error")
    assert path.json()["error"]["details"]["errors"][0]["field"] == "path.booking_id"


async def test_with_a_valid_token_an_unreadable_body_is_still_a_4xx(
    client: httpx.AsyncClient, passenger: TestUser
) -> None:
    headers = {**passenger.headers, "Content-Type": "application/json"}

    assert_error(await client.patch("/profile", content=b"{not", headers=headers), 422)
    assert_error(await client.patch("/profile", content=DEEP_JSON, headers=headers), 400)


async def test_a_405_names_every_method_the_path_serves(client: httpx.AsyncClient) -> None:
    response = await client.request("OPTIONS", "/flights/0b7d5c2e-8f4a-4e1b-9a53-2f6d1c9e7a10")

    assert_error(response, 405, "method_not_allowed")
    assert set(response.headers["allow"].split(", ")) == {"GET", "PUT", "DELETE"}


async def test_a_deeply_nested_websocket_message_gets_an_error_reply() -> None:
    deep = "[" * 2000 + "]" * 2000  # within the 4,096-character cap, past the recursion limit

    # Answered before the connection, hub or database is looked at.
    reply = await handle_client_message(deep, None, None, None)  # type: ignore[arg-type]

    assert reply is not None and reply["code"] == "invalid_message"
