"""Short-lived JWT access tokens and opaque refresh tokens."""

from __future__ import annotations

import hashlib
import logging
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path
from types import MappingProxyType
from typing import Any

import jwt

from flightdeck.platform.clock import utcnow
from flightdeck.platform.settings import Settings

log = logging.getLogger(__name__)

_dev_secret: str | None = None


def jwt_secret(settings: Settings) -> str:
    """The signing secret: from settings, or in development one kept in a local file so that
    tokens survive restarts and every worker process of `serve --workers N` agrees."""
    global _dev_secret
    if settings.jwt_secret:
        return settings.jwt_secret
    if settings.is_production:
        raise RuntimeError("FLIGHTDECK_JWT_SECRET must be set in production")
    if _dev_secret is None:
        path = Path(settings.jwt_secret_file)
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(secrets.token_urlsafe(48))
            path.chmod(0o600)
            log.warning(
                "generated a development JWT secret in %s; set FLIGHTDECK_JWT_SECRET in production",
                path,
            )
        _dev_secret = path.read_text().strip()
    return _dev_secret


@dataclass(frozen=True)
class AccessClaims:
    user_id: str
    role: str
    expires_at: datetime
    # The user's token version when it was issued: a newer one (password changed, account
    # deactivated) ends the token.
    token_version: int = 0


class InvalidToken(Exception):
    """The token is malformed, has a bad signature, or has expired."""


def issue_access_token(
    settings: Settings, user_id: str, role: str, token_version: int = 0
) -> tuple[str, int]:
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
        "ver": token_version,
    }
    token = jwt.encode(claims, jwt_secret(settings), algorithm=settings.jwt_algorithm)
    return token, int(lifetime.total_seconds())


# Tokens whose signature was verified, with their claims: a client sends the same token on
# every request for its whole lifetime, and verifying it (PyJWT prepares the HMAC key and
# checks it is no PEM/DER key on every decode) cost ~5 % of a request's CPU, twice per request
# (the rate limiter and the principal). Keyed by the secret too, so a changed secret verifies
# afresh; a token that fails raises and is not kept. Expiry and the claims are checked on
# every use (against our clock), not here.
_VERIFIED_TOKENS = 4096


@lru_cache(maxsize=_VERIFIED_TOKENS)
def _verified_claims(secret: str, algorithm: str, token: str) -> Mapping[str, Any]:
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=[algorithm],
            options={
                "verify_exp": False,
                "verify_iat": False,
                "require": ["sub", "exp", "typ"],
            },
        )
    except jwt.PyJWTError as exc:
        raise InvalidToken(str(exc)) from exc
    return MappingProxyType(claims)


def decode_access_token(settings: Settings, token: str) -> AccessClaims:
    # Expiry is checked against our clock (which tests can move), not the wall clock.
    claims = _verified_claims(jwt_secret(settings), settings.jwt_algorithm, token)
    if claims.get("typ") != "access":
        raise InvalidToken("not an access token")
    now = utcnow()
    if int(claims["exp"]) <= int(now.timestamp()):
        raise InvalidToken("token expired")
    expires = datetime.fromtimestamp(int(claims["exp"]), tz=now.tzinfo)
    version = claims.get("ver", 0)
    if not isinstance(version, int) or isinstance(version, bool):
        raise InvalidToken("bad token version")
    return AccessClaims(
        user_id=str(claims["sub"]),
        role=str(claims.get("role", "")),
        expires_at=expires,
        token_version=version,
    )


def new_refresh_token() -> str:
    return secrets.token_urlsafe(32)


def hash_refresh_token(token: str) -> str:
    """Refresh tokens are stored only as SHA-256 digests (they are high-entropy, no salt needed)."""
    return hashlib.sha256(token.encode()).hexdigest()
