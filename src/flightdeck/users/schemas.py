"""Request and response bodies of the users API."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Literal, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
    StrictBool,
    StringConstraints,
    model_validator,
)

from flightdeck.platform.text import SingleLineText

PHONE_PATTERN = r"^\+?[0-9 ()-]{6,20}$"
MIN_PHONE_DIGITS = 6
MAX_PHONE_DIGITS = 15  # E.164


def normalise_phone(phone: str) -> str:
    """`+1 (415) 555-0123` → `+14155550123`: a leading `+` and the digits."""
    digits = re.sub(r"[^0-9]", "", phone)
    if not MIN_PHONE_DIGITS <= len(digits) <= MAX_PHONE_DIGITS:
        raise ValueError(f"a phone number has {MIN_PHONE_DIGITS} to {MAX_PHONE_DIGITS} digits")
    return ("+" if phone.startswith("+") else "") + digits


# Emails are stored lower-cased, which makes the unique index case-insensitive.
EmailAddress = Annotated[EmailStr, Field(max_length=320), AfterValidator(str.lower)]
LoginEmail = Annotated[
    SingleLineText,
    StringConstraints(strip_whitespace=True, to_lower=True, min_length=1, max_length=320),
]
# Policy (length, email) is checked by the service so it reports `weak_password`;
# this bound only keeps absurd inputs away from the hasher.
NewPassword = Annotated[str, StringConstraints(max_length=1024)]
GivenPassword = Annotated[str, StringConstraints(min_length=1, max_length=1024)]
FullName = Annotated[SingleLineText, StringConstraints(min_length=1, max_length=200)]
PhoneNumber = Annotated[
    str,
    StringConstraints(strip_whitespace=True, pattern=PHONE_PATTERN),
    AfterValidator(normalise_phone),
]


class RequestBody(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RegisterRequest(RequestBody):
    email: EmailAddress
    password: NewPassword
    full_name: FullName
    phone: PhoneNumber | None = None


class LoginRequest(RequestBody):
    email: LoginEmail
    password: GivenPassword


class LoginForm(BaseModel):
    """The OAuth2 password form (what /docs "Authorize" sends); other OAuth2 fields ignored."""

    model_config = ConfigDict(extra="ignore")

    username: LoginEmail
    password: GivenPassword
    grant_type: Literal["password"] | None = None

    def to_login_request(self) -> LoginRequest:
        return LoginRequest(email=self.username, password=self.password)


class RefreshRequest(RequestBody):
    refresh_token: Annotated[str, StringConstraints(min_length=1, max_length=512)]


class TokenPair(BaseModel):
    access_token: str
    refresh_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 - the OAuth2 token type
    expires_in: int = Field(description="Lifetime of the access token in seconds")


class UserRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    email: str
    full_name: str
    role: str


class NotificationPreferences(BaseModel):
    email: StrictBool = True
    push: StrictBool = True


class NotificationPreferencesUpdate(RequestBody):
    """Only the channels given change; unknown channels are rejected."""

    email: StrictBool | None = None
    push: StrictBool | None = None


class ProfileRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    email: str
    full_name: str
    phone: str | None
    role: str
    notification_preferences: NotificationPreferences
    created_at: datetime


class ProfileUpdate(RequestBody):
    """Fields left out are unchanged; `phone: null` removes the phone number."""

    full_name: FullName | None = None
    phone: PhoneNumber | None = None
    notification_preferences: NotificationPreferencesUpdate | None = None
    password: NewPassword | None = Field(
        default=None, description="A new password; needs `current_password`"
    )
    current_password: GivenPassword | None = None

    @model_validator(mode="after")
    def _check_fields(self) -> Self:
        for name in ("full_name", "notification_preferences", "password"):
            if name in self.model_fields_set and getattr(self, name) is None:
                raise ValueError(f"{name} cannot be null")
        if self.password is not None and self.current_password is None:
            raise ValueError("changing the password needs current_password")
        return self
