"""Errors of the users domain: registration, sign-in, refresh tokens and profiles."""

from __future__ import annotations

from flightdeck.platform.errors import (
    AppError,
    Conflict,
    Forbidden,
    NotFound,
    Unauthorized,
    Unprocessable,
)


class EmailTaken(Conflict):
    code = "email_taken"
    message = "An account with this email already exists"


class WeakPassword(Unprocessable):
    code = "weak_password"
    message = "The password does not meet the password policy"


class InvalidRole(Unprocessable):
    code = "invalid_role"
    message = "Unknown role"


class InvalidCredentials(Unauthorized):
    # One message for a wrong email and a wrong password, so accounts cannot be enumerated.
    code = "invalid_credentials"
    message = "Incorrect email or password"


class InvalidRefreshToken(Unauthorized):
    code = "invalid_refresh_token"
    message = "The refresh token is invalid, expired or revoked"


class RefreshTokenReused(Unauthorized):
    code = "refresh_token_reused"
    message = "The refresh token was already used; this sign-in has been revoked"


class AccountUnavailable(Unauthorized):
    """A valid access token whose user no longer exists or was deactivated."""

    code = "invalid_token"
    message = "The account for this token is no longer active"


class InvalidCurrentPassword(Forbidden):
    code = "invalid_current_password"
    message = "The current password is incorrect"


class UnsupportedLoginMediaType(AppError):
    status_code = 415
    code = "unsupported_media_type"
    message = "Send the sign-in as JSON or as an application/x-www-form-urlencoded form"


class UserNotFound(NotFound):
    code = "user_not_found"
    message = "No such user"


class OwnAccessUnchangeable(Conflict):
    """An administrator cannot demote or deactivate themselves (and so lock the airline out
    of its own administration by mistake)."""

    code = "own_access_unchangeable"
    message = "You cannot change your own role or deactivate your own account"
