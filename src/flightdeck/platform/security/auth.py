"""The authenticated principal: the bearer access token, checked against the user it names on
every request (platform/security/identity.py), and role guards."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.dependencies.models import Dependant
from fastapi.security import OAuth2PasswordBearer
from fastapi.security.utils import get_authorization_scheme_param
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import State

from flightdeck.platform.db import DbSession
from flightdeck.platform.errors import AppError, Forbidden, Unauthorized
from flightdeck.platform.request_context import set_actor
from flightdeck.platform.security.identity import IdentityCache, load_identity
from flightdeck.platform.security.tokens import AccessClaims, InvalidToken, decode_access_token
from flightdeck.platform.settings import Settings, app_settings

ROLES = ("passenger", "agent", "admin")

oauth2_scheme = OAuth2PasswordBearer(tokenUrl="/login", auto_error=False)
# The `openapi_extra` of a route that signs its user in itself (`request_principal`, not the
# `CurrentPrincipal` dependency): documented as signed in, as the dependency would be, and a
# request it refuses before it runs (a body that does not validate) is a 401 first when the
# token is bad (`rejection_before_body`), as with the dependency.
SIGNED_IN_OPERATION: dict[str, Any] = {"security": [{oauth2_scheme.scheme_name: []}]}


@dataclass(frozen=True)
class Principal:
    user_id: str
    role: str

    @property
    def is_staff(self) -> bool:
        return self.role in ("agent", "admin")


def _invalid_token(message: str) -> Unauthorized:
    return Unauthorized(
        message,
        code="invalid_token",
        headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
    )


def claims_from_token(settings: Settings, token: str | None) -> AccessClaims:
    """The token's claims; 401 when it is missing, malformed, forged or expired."""
    if not token:
        raise Unauthorized(headers={"WWW-Authenticate": "Bearer"})
    try:
        return decode_access_token(settings, token)
    except InvalidToken as exc:
        raise _invalid_token("Invalid or expired access token") from exc


async def principal_for_token(
    state: State, settings: Settings, token: str | None, session: AsyncSession
) -> Principal:
    """The principal behind a valid token whose user still exists, is active and has not
    moved its token version on since; the role is the user's current one. 401 otherwise.
    A user not in this process's cache is read in `session` (the request's own)."""
    claims = claims_from_token(settings, token)
    cache: IdentityCache = state.identity_cache
    identity = await cache.get(claims.user_id, lambda: load_identity(session, claims.user_id))
    if identity is None or not identity.is_active:
        raise _invalid_token("The account for this token is no longer active")
    if identity.token_version != claims.token_version:
        raise _invalid_token("This access token was revoked; sign in again")
    return Principal(user_id=identity.user_id, role=identity.role)


async def current_principal(
    request: Request, token: Annotated[str | None, Depends(oauth2_scheme)], session: DbSession
) -> Principal:
    return await _sign_in(request, token, session)


async def request_principal(request: Request, session: AsyncSession) -> Principal:
    """What `CurrentPrincipal` gives, for a route that takes no dependencies (declare it with
    `openapi_extra=SIGNED_IN_OPERATION`): the token read as `oauth2_scheme` reads it."""
    return await _sign_in(request, _bearer_token(request), session)


async def _sign_in(request: Request, token: str | None, session: AsyncSession) -> Principal:
    state, settings = request.app.state, app_settings(request)
    principal = await principal_for_token(state, settings, token, session)
    set_actor(principal.user_id, principal.role)
    return principal


def _bearer_token(request: Request) -> str | None:
    scheme, token = get_authorization_scheme_param(request.headers.get("Authorization"))
    return token if scheme.lower() == "bearer" else None


async def optional_principal(
    request: Request, token: Annotated[str | None, Depends(oauth2_scheme)], session: DbSession
) -> Principal | None:
    return await current_principal(request, token, session) if token else None


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
    """The 401 a route that needs a signed-in user would answer, for a request refused before
    the user was checked: FastAPI parses the body before it runs dependencies (and validates
    it before a route that signs its user in itself runs), but a missing or bad token must be
    a 401 whatever the body (`install_error_handlers(auth_rejection=...)`)."""
    route = request.scope.get("route")
    dependant = getattr(route, "dependant", None)
    if not isinstance(dependant, Dependant):
        return None
    if not _needs_principal(dependant) and not _signs_in_itself(route):
        return None
    try:
        claims_from_token(app_settings(request), _bearer_token(request))
    except Unauthorized as exc:
        return exc
    return None


def _signs_in_itself(route: Any) -> bool:
    extra: dict[str, Any] = getattr(route, "openapi_extra", None) or {}
    return bool(extra.get("security") == SIGNED_IN_OPERATION["security"])


def _needs_principal(dependant: Dependant) -> bool:
    return dependant.call is current_principal or any(
        _needs_principal(sub) for sub in dependant.dependencies
    )
