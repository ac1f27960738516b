"""One small client of the FlightDeck HTTP API: tokens, the error shape, the calls the app makes.

Every call returns the JSON the server sent; every failure raises `ApiError` carrying the
server's `{"error": {"code", "message", "details"}}` as it came (shown to the user as is).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from typing import Any

import httpx

JSON = Any
Params = Mapping[str, str | int | bool | None]
TIMEOUT = httpx.Timeout(20.0, connect=5.0)
# An idle connection is given up after this long, well before the server closes it (uvicorn
# after 5 s, nginx after 30 s): httpx kept one up to 5 s, so a request sent as the server
# closed it failed ("The server cannot be reached") after a user paused about 5 s.
KEEPALIVE_SECONDS = 2.0
# Where a validation error names a field ("body.passengers.0.first_name"), these prefixes say
# where it was sent, not which field it is.
FIELD_PREFIXES = ("body.", "query.", "path.")


class ApiError(Exception):
    """An answer in the error shape (or no answer: status 0, code `network_error`)."""

    def __init__(
        self, status: int, code: str, message: str, details: Mapping[str, Any] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = dict(details or {})

    @classmethod
    def from_response(cls, response: httpx.Response) -> ApiError:
        try:
            error = response.json()["error"]
            return cls(response.status_code, error["code"], error["message"], error.get("details"))
        except (ValueError, KeyError, TypeError):
            return cls(
                response.status_code, "http_error", f"The server answered {response.status_code}"
            )

    def field_messages(self) -> dict[str, str]:
        """Messages by the field they concern (`passengers.0.first_name`), as the server names
        them in `details.errors[].field` or `details.field`."""
        fields: dict[str, str] = {}
        for error in self.details.get("errors") or ():
            name = _field_name(str(error.get("field", "")))
            if name and name not in fields:
                fields[name] = str(error.get("message") or self.message)
        single = self.details.get("field")
        if isinstance(single, str) and single:
            fields.setdefault(_field_name(single), self.message)
        return fields


def _field_name(raw: str) -> str:
    for prefix in FIELD_PREFIXES:
        if raw.startswith(prefix):
            return raw[len(prefix) :]
    return "" if raw in {"body", "query"} else raw


class ApiClient:
    """The signed-in user's view of the API (tokens kept here, refreshed once on a 401)."""

    def __init__(
        self,
        base_url: str,
        *,
        identity_headers: Callable[[], Mapping[str, str]] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        # Served by a FlightDeck server, the app calls the API on its user's behalf: the
        # server side gives it headers naming the browser's address (signed, fresh for each
        # call), so that the API counts limits per browser, not per app server.
        self.base_url = base_url.rstrip("/")
        self._identity_headers = identity_headers
        # trust_env off: the server calling itself must not go through a proxy from the env.
        self._http = httpx.AsyncClient(
            base_url=self.base_url,
            timeout=TIMEOUT,
            limits=httpx.Limits(keepalive_expiry=KEEPALIVE_SECONDS),
            transport=transport,
            trust_env=False,
        )
        self.access_token: str | None = None
        self.refresh_token: str | None = None

    def identity_headers(self) -> dict[str, str]:
        """The headers that name the app's user to the API (none on a phone)."""
        return dict(self._identity_headers()) if self._identity_headers is not None else {}

    @property
    def websocket_url(self) -> str:
        scheme, _, rest = self.base_url.partition("://")
        return f"{'wss' if scheme == 'https' else 'ws'}://{rest}/ws"

    async def aclose(self) -> None:
        await self._http.aclose()

    async def request(
        self,
        method: str,
        path: str,
        *,
        json: JSON = None,
        params: Params | None = None,
        files: Mapping[str, tuple[str, bytes, str]] | None = None,
        headers: Mapping[str, str] | None = None,
        raw: bool = False,
    ) -> JSON:
        """The answer's JSON (or bytes when `raw`); `ApiError` for any answer in the error shape."""
        clean = {k: v for k, v in (params or {}).items() if v not in (None, "")}
        response = await self._send(method, path, json, clean, files, headers)
        expired = response.status_code == 401 and path != "/login/refresh"
        if expired and self.refresh_token and await self.refresh():
            response = await self._send(method, path, json, clean, files, headers)
        if response.status_code >= 400:
            raise ApiError.from_response(response)
        if raw:
            return response.content
        return response.json() if response.content else None

    async def _send(
        self,
        method: str,
        path: str,
        json: JSON,
        params: Params,
        files: Mapping[str, tuple[str, bytes, str]] | None,
        headers: Mapping[str, str] | None,
    ) -> httpx.Response:
        sent = self.identity_headers() | dict(headers or {})
        if self.access_token:
            sent["Authorization"] = f"Bearer {self.access_token}"
        try:
            return await self._http.request(
                method, path, json=json, params=params, files=files, headers=sent
            )
        except httpx.HTTPError as exc:
            raise ApiError(0, "network_error", "The server cannot be reached; try again") from exc

    # --- users --------------------------------------------------------------------------

    async def register(self, body: Mapping[str, Any]) -> JSON:
        return await self.request("POST", "/register", json=dict(body))

    async def sign_in(self, email: str, password: str) -> JSON:
        tokens = await self.request("POST", "/login", json={"email": email, "password": password})
        self._keep(tokens)
        return await self.request("GET", "/profile")

    async def refresh(self) -> bool:
        """New tokens from the refresh token; False (signed out) if it was refused."""
        token, self.refresh_token = self.refresh_token, None
        try:
            tokens = await self.request("POST", "/login/refresh", json={"refresh_token": token})
        except ApiError:
            self.access_token = None
            return False
        self._keep(tokens)
        return True

    def _keep(self, tokens: Mapping[str, Any]) -> None:
        self.access_token = str(tokens["access_token"])
        self.refresh_token = str(tokens["refresh_token"])

    def sign_out(self) -> None:
        self.access_token = self.refresh_token = None

    # --- flights, search, seats ---------------------------------------------------------

    async def airports(self, query: str) -> JSON:
        return await self.request("GET", "/airports", params={"q": query, "limit": 6})

    async def search(self, params: Params) -> JSON:
        return await self.request("GET", "/search", params=params)

    async def seat_map(self, flight_id: str) -> JSON:
        return await self.request("GET", f"/flights/{flight_id}/seats")

    async def flight_status(self, flight_id: str) -> JSON:
        return await self.request("GET", f"/flights/{flight_id}/status")

    async def flights(self, params: Params) -> JSON:
        return await self.request("GET", "/flights", params=params)

    async def create_flight(self, body: Mapping[str, Any]) -> JSON:
        return await self.request("POST", "/flights", json=dict(body))

    async def update_flight(self, flight_id: str, body: Mapping[str, Any]) -> JSON:
        return await self.request("PUT", f"/flights/{flight_id}", json=dict(body))

    async def delete_flight(self, flight_id: str) -> JSON:
        return await self.request("DELETE", f"/flights/{flight_id}")

    async def set_flight_status(self, flight_id: str, body: Mapping[str, Any]) -> JSON:
        return await self.request("PUT", f"/flights/{flight_id}/status", json=dict(body))

    async def schedules(self, params: Params) -> JSON:
        return await self.request("GET", "/schedules", params=params)

    async def create_schedule(self, body: Mapping[str, Any]) -> JSON:
        return await self.request("POST", "/schedules", json=dict(body))

    async def delete_schedule(self, schedule_id: str) -> JSON:
        return await self.request("DELETE", f"/schedules/{schedule_id}")

    async def import_ssim(self, file_name: str, content: bytes) -> JSON:
        files = {"file": (file_name, content, "text/plain")}
        return await self.request("POST", "/schedules/import", files=files)

    # --- bookings and payments ----------------------------------------------------------

    async def create_booking(self, body: Mapping[str, Any]) -> JSON:
        key = {"Idempotency-Key": str(uuid.uuid4())}
        return await self.request("POST", "/bookings", json=dict(body), headers=key)

    async def bookings(self) -> JSON:
        return await self.request("GET", "/bookings", params={"limit": 50})

    async def booking(self, booking_id: str) -> JSON:
        return await self.request("GET", f"/bookings/{booking_id}")

    async def cancellation_quote(self, booking_id: str) -> JSON:
        return await self.request("GET", f"/bookings/{booking_id}/cancellation")

    async def cancel_booking(self, booking_id: str) -> JSON:
        return await self.request("DELETE", f"/bookings/{booking_id}")

    async def pay(self, body: Mapping[str, Any]) -> JSON:
        key = {"Idempotency-Key": str(uuid.uuid4())}
        return await self.request("POST", "/payments", json=dict(body), headers=key)

    async def confirm_payment(self, payment_id: str) -> JSON:
        return await self.request("POST", f"/payments/{payment_id}/confirm")

    # --- notifications ------------------------------------------------------------------

    async def notifications(self, *, unread: bool = False) -> JSON:
        return await self.request("GET", "/notifications", params={"limit": 50, "unread": unread})

    async def mark_read(self, notification_id: str) -> JSON:
        return await self.request("POST", f"/notifications/{notification_id}/read")

    async def mark_all_read(self) -> JSON:
        return await self.request("POST", "/notifications/read-all")

    # --- admin --------------------------------------------------------------------------

    async def admin_list(self, table: str, params: Params) -> JSON:
        return await self.request("GET", f"/admin/{table}", params=params)

    async def admin_csv(self, table: str, params: Params) -> bytes:
        data: bytes = await self.request(
            "GET", f"/admin/{table}", params={**params, "format": "csv"}, raw=True
        )
        return data

    async def admin_report(self, params: Params) -> JSON:
        return await self.request("GET", "/admin/reports", params=params)

    async def admin_update_user(self, user_id: str, body: Mapping[str, Any]) -> JSON:
        return await self.request("PATCH", f"/admin/users/{user_id}", json=dict(body))
