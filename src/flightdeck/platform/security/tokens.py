"""Short-lived JWT access tokens and opaque refresh tokens."""

from __future__ import annotations

import hashlib
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import jwt

from flightdeck.platform.clock import utcnow
from flightdeck.platform.settings import Settings

log = logging.getLogger(__name__)

_generated_secret: str | None = None


def jwt_secret(settings: Settings) -> str:
    global _generated_secret
    if settings.jwt_secret:
        return settings.jwt_secret
    if settings.is_production:
        raise RuntimeError("FLIGHTDECK_JWT_SECRET must be set in production")
    if _generated_secret is None:
        _generated_secret = secrets.token_urlsafe(48)
        log.warning("FLIGHTDECK_JWT_SECRET is not set: using a random per-process secret")
    return _generated_secret


@dataclass(frozen=True)
class AccessClaims:
    user_id: str
    role: str
    expires_at: datetime


class InvalidToken(Exception):
    """The token is malformed, has a bad signature, or has expired."""


def issue_access_token(settings: Settings, user_id: str, role: str) -> tuple[str, int]:
    """Returns the token and its lifetime in seconds."""
    now = utcnow()
    lifetime = timedelta(minutes=settings.access_token_minutes)
    claims: dict[str, Any] = {
        "sub": user_id,
        "role": role,
        "typ": "access",
        "iat": int(now.timestamp()),
        "exp": int((now + lifetime).timestamp()),
        "jti": secrets.token_hex(8),
    }
    token = jwt.encode(claims, jwt_secret(settings), algorithm=settings.jwt_algorithm)
    return token, int(lifetime.total_seconds())


def decode_access_token(settings: Settings, token: str) -> AccessClaims:
    try:
        # Expiry is checked against our clock (which tests can move), not the wall clock.
        claims = jwt.decode(
            token,
            jwt_secret(settings),
            algorithms=[settings.jwt_algorithm],
            options={
                "verify_exp": False,
                "verify_iat": False,
                "require": ["sub", "exp", "typ"],
            },
        )
    except jwt.PyJWTError as exc:
        raise InvalidToken(str(exc)) from exc
    if claims.get("typ") != "access":
        raise InvalidToken("not an access token")
    if int(claims["exp"]) <= int(utcnow().timestamp()):
        raise InvalidToken("token expired")
    expires = datetime.fromtimestamp(int(claims["exp"]), tz=utcnow().tzinfo)
    return AccessClaims(
        user_id=str(claims["sub"]), role=str(claims.get("role", "")), expires_at=expires
    )


def new_refresh_token() -> str:
    return secrets.token_urlsafe(32)


def hash_refresh_token(token: str) -> str:
    """Refresh tokens are stored only as SHA-256 digests (they are high-entropy, no salt needed)."""
    return hashlib.sha256(token.encode()).hexdigest()
