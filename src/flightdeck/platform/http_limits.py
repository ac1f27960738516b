"""Rate limits on every HTTP request.

Each request counts against the per-client-address limit (`rate_limit_per_address`) and, when it
carries a valid access token, the per-user limit (`rate_limit_per_user`), in a middleware that
answers before anything else runs. A route may add a stricter named limit as a dependency,
`dependencies=[rate_limit("search")]`: the setting `rate_limit_search`, counted per user when
signed in, else per client address. Counters are fixed windows in the process's rate-limit
storage (Redis when configured: every instance counts together).

Over a limit the request is answered 429 in the one error shape, with `Retry-After`; every
counted response carries `RateLimit-Policy` (every policy that applied) and `RateLimit` (the
one closest to running out), as in the IETF draft httpapi-ratelimit-headers:
`RateLimit-Policy: "address";q=600;w=60` and `RateLimit: "address";r=599;t=60`.

Liveness, readiness and metrics are not limited (probes come from one address), nor are
WebSocket handshakes (the gateway limits connection rates).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from fastapi import Depends, FastAPI, Request
from limits import RateLimitItem, parse_many
from limits.aio.storage import Storage
from prometheus_client import Counter
from starlette.datastructures import MutableHeaders
from starlette.requests import HTTPConnection
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from flightdeck.platform.client_address import client_address
from flightdeck.platform.errors import TooManyRequests, error_payload
from flightdeck.platform.ratelimit import (
    close_rate_limit_storage,
    create_rate_limit_storage,
    seconds_until,
)
from flightdeck.platform.security.tokens import InvalidToken, decode_access_token
from flightdeck.platform.settings import Settings

RATE_LIMITED = Counter(
    "flightdeck_rate_limited_total", "Requests refused with 429 by a rate limit", ["policy"]
)

EXEMPT_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
_STATE_KEY = "flightdeck.rate_limit_decision"


def rate_limit(name: str) -> Any:
    """A route dependency adding the stricter limit `rate_limit_<name>` (a setting):

        @router.get("/search", dependencies=[rate_limit("search")])

    An unknown name fails at import, not at the first request."""
    check_route_limit_name(name)

    async def check_route_limit(request: Request) -> None:
        await enforce_route_limit(name, request)

    return Depends(check_route_limit)


def check_route_limit_name(name: str) -> str:
    """`name` when the setting `rate_limit_<name>` exists, else LookupError (at import)."""
    if f"rate_limit_{name}" not in Settings.model_fields:
        raise LookupError(f"rate limit {name!r} has no setting rate_limit_{name}")
    return name


async def within_route_limit(name: str, request: Request) -> bool:
    """Counts `rate_limit_<name>` as `enforce_route_limit` does (once per request), and says
    whether the request is within it, without answering: a refused request goes on to its
    route, whose `rate_limit(name)` answers the 429."""
    limits = _enabled_limits(request)
    return limits is None or (await limits.count_named(name, request)).refusal is None


async def enforce_route_limit(name: str, request: Request) -> None:
    """What `rate_limit(name)` does, for a hot route that takes no dependencies: counts the
    request against `rate_limit_<name>`, 429 `rate_limited` past it."""
    limits = _enabled_limits(request)
    if limits is not None:
        await limits.enforce_named(name, request)


def _enabled_limits(request: Request) -> RateLimits | None:
    limits: RateLimits | None = getattr(request.app.state, "rate_limits", None)
    return limits if limits is not None and limits.enabled else None


@dataclass(frozen=True)
class Policy:
    """One quota of one named limit: `item.amount` requests per `item.get_expiry()` seconds."""

    id: str
    item: RateLimitItem

    @property
    def window_seconds(self) -> int:
        return self.item.get_expiry()

    @property
    def header_item(self) -> str:
        return f'"{self.id}";q={self.item.amount};w={self.window_seconds}'


def policies_from(name: str, spec: str) -> tuple[Policy, ...]:
    """`("register", "10/minute;50/hour")` → policies `register-60s` and `register-3600s`
    (a single quota keeps the plain name)."""
    items = parse_many(spec)
    if len(items) == 1:
        return (Policy(name, items[0]),)
    return tuple(Policy(f"{name}-{item.get_expiry()}s", item) for item in items)


@dataclass(frozen=True)
class Usage:
    policy: Policy
    key: str
    used: int

    @property
    def remaining(self) -> int:
        return max(0, self.policy.item.amount - self.used)

    @property
    def refused(self) -> bool:
        return self.used > self.policy.item.amount


@dataclass
class Decision:
    """What one request has counted so far (kept in its scope state)."""

    address: str
    user: str | None
    applied: list[Policy] = field(default_factory=list)
    usages: list[Usage] = field(default_factory=list)
    named: set[str] = field(default_factory=set)  # the route limits counted, once each

    @property
    def refusal(self) -> Usage | None:
        return next((usage for usage in self.usages if usage.refused), None)

    def closest_to_limit(self) -> Usage:
        refusal = self.refusal
        if refusal is not None:
            return refusal
        return min(self.usages, key=lambda u: (u.remaining, u.policy.window_seconds))


class RateLimits:
    """The app's limits and their storage (`app.state.rate_limits`)."""

    def __init__(self, settings: Settings, storage: Storage) -> None:
        self.settings = settings
        self.storage = storage
        self.enabled = settings.rate_limits_enabled
        self.per_address = policies_from("address", settings.rate_limit_per_address)
        self.per_user = policies_from("user", settings.rate_limit_per_user)
        self._named: dict[str, tuple[Policy, ...]] = {}

    def named(self, name: str) -> tuple[Policy, ...]:
        """The policies of `rate_limit_<name>`; LookupError when there is no such setting."""
        policies = self._named.get(name)
        if policies is None:
            spec = getattr(self.settings, f"rate_limit_{name}", None)
            if not isinstance(spec, str):
                raise LookupError(f"a route declares rate limit {name!r}: no rate_limit_{name}")
            policies = self._named[name] = policies_from(name, spec)
        return policies

    def _user_id(self, connection: HTTPConnection) -> str | None:
        scheme, _, token = connection.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return None
        try:
            return decode_access_token(self.settings, token.strip()).user_id
        except InvalidToken:
            return None  # the endpoint answers 401; the address limit still counted it

    def decision(self, connection: HTTPConnection) -> Decision:
        """This request's decision so far (created on first use)."""
        state = connection.scope.setdefault("state", {})
        decision = state.get(_STATE_KEY)
        if not isinstance(decision, Decision):
            user_id = self._user_id(connection)
            decision = Decision(
                address=f"address:{client_address(connection)}",
                user=f"user:{user_id}" if user_id else None,
            )
            state[_STATE_KEY] = decision
        return decision

    async def _count(self, decision: Decision, plan: list[tuple[Policy, str]]) -> None:
        """Counts against each (policy, identity), stopping at the first refusal."""
        decision.applied += [policy for policy, _ in plan]
        for policy, identity in plan:
            key = policy.item.key_for(policy.id, identity)
            used = await self.storage.incr(key, policy.window_seconds)
            decision.usages.append(Usage(policy, key, used))
            if used > policy.item.amount:
                return

    async def count_general(self, connection: HTTPConnection) -> Decision:
        decision = self.decision(connection)
        plan = [(policy, decision.address) for policy in self.per_address]
        if decision.user is not None:
            plan += [(policy, decision.user) for policy in self.per_user]
        await self._count(decision, plan)
        return decision

    async def count_named(self, name: str, connection: HTTPConnection) -> Decision:
        """Counts the named limit (per user when signed in, else per address), once per
        request however often it is asked."""
        decision = self.decision(connection)
        if name not in decision.named:
            decision.named.add(name)
            identity = decision.user or decision.address
            await self._count(decision, [(policy, identity) for policy in self.named(name)])
        return decision

    async def enforce_named(self, name: str, connection: HTTPConnection) -> None:
        """Counts the named limit (`count_named`); raises 429 past it."""
        decision = await self.count_named(name, connection)
        refusal = decision.refusal
        if refusal is not None:
            raise rate_limit_error(refusal, await self.headers(decision))

    async def headers(self, decision: Decision) -> dict[str, str]:
        usage = decision.closest_to_limit()
        reset = seconds_until(await self.storage.get_expiry(usage.key))
        headers = {
            "RateLimit-Policy": ", ".join(p.header_item for p in decision.applied),
            "RateLimit": f'"{usage.policy.id}";r={usage.remaining};t={reset}',
        }
        if usage.refused:
            headers["Retry-After"] = str(reset)
        return headers

    async def close(self) -> None:
        await close_rate_limit_storage(self.storage)


def rate_limit_storage(connection: HTTPConnection) -> Storage:
    """The app's rate-limit storage, for other counters that must be shared the same way
    (the sign-in throttle)."""
    limits: RateLimits = connection.app.state.rate_limits
    return limits.storage


@asynccontextmanager
async def open_rate_limits(app: FastAPI, settings: Settings) -> AsyncIterator[RateLimits]:
    """The app's limits and their storage (Redis when configured) for the server's lifetime,
    as `app.state.rate_limits` (the sign-in throttle counts in the same storage)."""
    limits = RateLimits(settings, create_rate_limit_storage(settings))
    app.state.rate_limits = limits
    try:
        yield limits
    finally:
        await limits.close()


def rate_limit_error(usage: Usage, headers: dict[str, str]) -> TooManyRequests:
    retry_after = int(headers["Retry-After"])
    RATE_LIMITED.labels(usage.policy.id).inc()
    return TooManyRequests(
        f"Too many requests; try again in {retry_after} s",
        code="rate_limited",
        details={"policy": usage.policy.id, "retry_after_seconds": retry_after},
        headers=headers,
    )


class RateLimitMiddleware:
    """Counts each HTTP request against the general limits before anything else runs (a
    refused request is answered before its body is read), and puts the RateLimit headers of
    everything the request counted (route limits included) on its response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        limits: RateLimits | None = None
        if scope["type"] == "http" and scope["path"] not in EXEMPT_PATHS:
            limits = getattr(scope["app"].state, "rate_limits", None)
        if limits is None or not limits.enabled:
            await self.app(scope, receive, send)
            return
        decision = await limits.count_general(HTTPConnection(scope))
        refusal = decision.refusal
        if refusal is not None:
            error = rate_limit_error(refusal, await limits.headers(decision))
            body = error_payload(error.code, error.message, error.details)
            await JSONResponse(body, status_code=429, headers=error.headers)(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                if "ratelimit" not in headers:  # a route limit's 429 carries its own
                    for name, value in (await limits.headers(decision)).items():
                        headers.append(name, value)
            await send(message)

        await self.app(scope, receive, send_with_headers)


def install_rate_limiting(app: FastAPI) -> None:
    """Adds the middleware; install it inside the metrics middleware (so 429s are counted)
    and inside CORS (so browsers can read them)."""
    app.add_middleware(RateLimitMiddleware)
