"""The authenticated principal, read from the bearer access token, and role guards."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.dependencies.models import Dependant
from fastapi.security import OAuth2PasswordBearer
from fastapi.security.utils import get_authorization_scheme_param

from flightdeck.platform.errors import AppError, Forbidden, Unauthorized
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


def rejection_before_body(request: Request) -> AppError | None:
    """The 401 a route that needs a signed-in user would answer, for a request whose body
    failed to parse: FastAPI parses the body before it runs dependencies, but a missing or bad
    token must be a 401 whatever the body (`install_error_handlers(auth_rejection=...)`)."""
    route = request.scope.get("route")
    dependant = getattr(route, "dependant", None)
    if not isinstance(dependant, Dependant) or not _needs_principal(dependant):
        return None
    scheme, token = get_authorization_scheme_param(request.headers.get("Authorization"))
    try:
        principal_from_token(app_settings(request), token if scheme.lower() == "bearer" else None)
    except Unauthorized as exc:
        return exc
    return None


def _needs_principal(dependant: Dependant) -> bool:
    return dependant.call is current_principal or any(
        _needs_principal(sub) for sub in dependant.dependencies
    )
