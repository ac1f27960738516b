"""The authenticated principal, read from the bearer access token, and role guards."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import OAuth2PasswordBearer

from flightdeck.platform.errors import Forbidden, Unauthorized
from flightdeck.platform.security.tokens import InvalidToken, decode_access_token
from flightdeck.platform.settings import Settings, app_settings

ROLES = ("passenger", "agent", "admin")

oauth2_scheme = OAuth2PasswordBearer(tokenUrl="/login", auto_error=False)


@dataclass(frozen=True)
class Principal:
    user_id: str
    role: str

    @property
    def is_staff(self) -> bool:
        return self.role in ("agent", "admin")


def principal_from_token(settings: Settings, token: str | None) -> Principal:
    if not token:
        raise Unauthorized(headers={"WWW-Authenticate": "Bearer"})
    try:
        claims = decode_access_token(settings, token)
    except InvalidToken as exc:
        raise Unauthorized(
            "Invalid or expired access token",
            code="invalid_token",
            headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
        ) from exc
    return Principal(user_id=claims.user_id, role=claims.role)


async def current_principal(
    request: Request, token: Annotated[str | None, Depends(oauth2_scheme)]
) -> Principal:
    return principal_from_token(app_settings(request), token)


async def optional_principal(
    request: Request, token: Annotated[str | None, Depends(oauth2_scheme)]
) -> Principal | None:
    return principal_from_token(app_settings(request), token) if token else None


def require_roles(*roles: str) -> Callable[..., Coroutine[Any, Any, Principal]]:
    async def guard(principal: Annotated[Principal, Depends(current_principal)]) -> Principal:
        if principal.role not in roles:
            raise Forbidden(f"This needs one of the roles: {', '.join(roles)}")
        return principal

    return guard


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]
StaffPrincipal = Annotated[Principal, Depends(require_roles("agent", "admin"))]
AdminPrincipal = Annotated[Principal, Depends(require_roles("admin"))]
