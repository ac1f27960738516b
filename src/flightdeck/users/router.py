"""HTTP routes of the users domain: /register, /login, /login/refresh, /profile."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, status
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from flightdeck.platform.client_address import client_address
from flightdeck.platform.db import DbSession
from flightdeck.platform.errors import TooManyRequests, Unauthorized, error_responses
from flightdeck.platform.http_limits import rate_limit, rate_limit_storage
from flightdeck.platform.json_body import parse_json
from flightdeck.platform.ratelimit import TooManyAttempts
from flightdeck.platform.security.auth import CurrentPrincipal
from flightdeck.platform.settings import AppSettings, app_settings
from flightdeck.users import service
from flightdeck.users.errors import (
    AccountUnavailable,
    EmailTaken,
    InvalidCredentials,
    InvalidCurrentPassword,
    InvalidRefreshToken,
    RefreshTokenReused,
    UnsupportedLoginMediaType,
    WeakPassword,
)
from flightdeck.users.login_throttle import LoginThrottles
from flightdeck.users.schemas import (
    LoginForm,
    LoginRequest,
    ProfileRead,
    ProfileUpdate,
    RefreshRequest,
    RegisterRequest,
    TokenPair,
    UserRead,
)

router = APIRouter(tags=["users"])

FORM_MEDIA_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")

# /login reads its body itself (two media types), so the body is documented by hand.
LOGIN_OPENAPI: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": LoginRequest.model_json_schema()},
            "application/x-www-form-urlencoded": {"schema": LoginForm.model_json_schema()},
        },
    }
}


async def login_throttles(request: Request) -> LoginThrottles:
    """The sign-in throttles, on the app's rate-limit storage (Redis when configured)."""
    return LoginThrottles(app_settings(request), rate_limit_storage(request))


Throttles = Annotated[LoginThrottles, Depends(login_throttles)]


async def read_login_request(request: Request) -> LoginRequest:
    """Parses the sign-in from an OAuth2 password form or a JSON body."""
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    try:
        if media_type in FORM_MEDIA_TYPES:
            form = await request.form()
            return LoginForm.model_validate(dict(form)).to_login_request()
        if media_type == "application/json" or media_type.endswith("+json"):
            return LoginRequest.model_validate(parse_json(await request.body()))
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_context=False)
        raise RequestValidationError(
            [{**err, "loc": ("body", *err["loc"])} for err in errors]
        ) from exc
    raise UnsupportedLoginMediaType()


@router.post(
    "/register",
    status_code=status.HTTP_201_CREATED,
    responses=error_responses(EmailTaken, WeakPassword, 422, TooManyRequests),
    dependencies=[rate_limit("register")],
)
async def register(body: RegisterRequest, session: DbSession) -> UserRead:
    """Create a passenger account."""
    user = await service.register_user(session, body)
    return UserRead.model_validate(user)


@router.post(
    "/login",
    openapi_extra=LOGIN_OPENAPI,
    responses=error_responses(
        InvalidCredentials, UnsupportedLoginMediaType, 422, TooManyAttempts, TooManyRequests
    ),
    dependencies=[rate_limit("login")],
)
async def login(
    request: Request, session: DbSession, settings: AppSettings, throttles: Throttles
) -> TokenPair:
    """Sign in with email and password (JSON or the OAuth2 password form)."""
    credentials = await read_login_request(request)
    return await service.login(session, settings, throttles, credentials, client_address(request))


@router.post(
    "/login/refresh", responses=error_responses(InvalidRefreshToken, RefreshTokenReused, 422)
)
async def refresh(body: RefreshRequest, session: DbSession, settings: AppSettings) -> TokenPair:
    """Trade a refresh token for a new token pair (the old refresh token is used up)."""
    return await service.refresh_session(session, settings, body.refresh_token)


@router.get("/profile", responses=error_responses(Unauthorized, AccountUnavailable))
async def get_profile(principal: CurrentPrincipal, session: DbSession) -> ProfileRead:
    """The signed-in user's profile."""
    user = await service.get_active_user(session, principal.user_id)
    return ProfileRead.model_validate(user)


@router.patch(
    "/profile",
    responses=error_responses(
        Unauthorized,
        AccountUnavailable,
        InvalidCurrentPassword,
        WeakPassword,
        422,
        TooManyAttempts,
        TooManyRequests,
    ),
)
async def update_profile(
    request: Request,
    body: ProfileUpdate,
    principal: CurrentPrincipal,
    session: DbSession,
    throttles: Throttles,
) -> ProfileRead:
    """Update name, phone, notification preferences or password (403 on a wrong current one)."""
    user = await service.update_profile(
        session, throttles, principal.user_id, body, client_address(request)
    )
    return ProfileRead.model_validate(user)
