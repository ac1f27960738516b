"""Registration, sign-in with rotating refresh tokens, and profiles.

Failed sign-ins (and wrong current passwords) are throttled by `login_throttle.LoginThrottles`:
per (account, client address), per client address, and an account under attack paces
attempts from addresses it does not know.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection
from datetime import timedelta
from typing import Any, NamedTuple, NoReturn

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from flightdeck.platform.clock import utcnow
from flightdeck.platform.db import commit_mid_request, new_id
from flightdeck.platform.errors import Unprocessable
from flightdeck.platform.events.outbox import record_event
from flightdeck.platform.security.auth import ROLES
from flightdeck.platform.security.identity import (
    USER_CHANGED,
    Identity,
    forget_identity_on_commit,
)
from flightdeck.platform.security.passwords import hash_password, needs_rehash, verify_password
from flightdeck.platform.security.tokens import (
    hash_refresh_token,
    issue_access_token,
    new_refresh_token,
)
from flightdeck.platform.settings import Settings
from flightdeck.users.errors import (
    AccountUnavailable,
    EmailTaken,
    InvalidCredentials,
    InvalidCurrentPassword,
    InvalidRefreshToken,
    InvalidRole,
    RefreshTokenReused,
    WeakPassword,
)
from flightdeck.users.login_throttle import LoginThrottles
from flightdeck.users.models import DEFAULT_NOTIFICATION_PREFERENCES, RefreshToken, User
from flightdeck.users.repository import RefreshTokenRepository, UserRepository
from flightdeck.users.schemas import LoginRequest, ProfileUpdate, RegisterRequest, TokenPair

log = logging.getLogger(__name__)

PASSWORD_MIN_LENGTH = 10
PASSWORD_MAX_LENGTH = 128
# Shorter local parts ("jo@…") would reject ordinary passwords that merely contain them.
MIN_LOCAL_PART_CHECKED = 3

# --- password policy --------------------------------------------------------------------------


def check_password_policy(password: str, email: str) -> None:
    """Raises `WeakPassword` (422) unless 10..128 characters and free of the email's local part."""
    if len(password) < PASSWORD_MIN_LENGTH:
        raise WeakPassword(
            f"The password needs at least {PASSWORD_MIN_LENGTH} characters",
            details={"min_length": PASSWORD_MIN_LENGTH},
        )
    if len(password) > PASSWORD_MAX_LENGTH:
        raise WeakPassword(
            f"The password can have at most {PASSWORD_MAX_LENGTH} characters",
            details={"max_length": PASSWORD_MAX_LENGTH},
        )
    local_part = email.split("@", 1)[0].casefold()
    if len(local_part) >= MIN_LOCAL_PART_CHECKED and local_part in password.casefold():
        raise WeakPassword("The password must not contain the name part of your email address")


# --- registration -----------------------------------------------------------------------------


async def register_user(session: AsyncSession, data: RegisterRequest) -> User:
    """Self-service registration: always a passenger."""
    return await _add_user(session, data, role="passenger")


async def create_user(
    session: AsyncSession,
    *,
    email: str,
    password: str,
    full_name: str,
    role: str,
    phone: str | None = None,
) -> User:
    """Creates a user of any role (CLI), with the same validation as registration.

    Raises `Unprocessable`, `WeakPassword`, `InvalidRole` or `EmailTaken`; the caller commits.
    """
    if role not in ROLES:
        raise InvalidRole(f"Unknown role {role!r}", details={"allowed": list(ROLES)})
    try:
        data = RegisterRequest(email=email, password=password, full_name=full_name, phone=phone)
    except ValidationError as exc:
        raise _unprocessable(exc) from exc
    return await _add_user(session, data, role=role)


async def _add_user(session: AsyncSession, data: RegisterRequest, *, role: str) -> User:
    check_password_policy(data.password, data.email)
    users = UserRepository(session)
    if await users.get_by_email(data.email) is not None:
        raise EmailTaken()
    password_hash = await asyncio.to_thread(hash_password, data.password)
    user = User(
        email=data.email,
        password_hash=password_hash,
        full_name=data.full_name,
        phone=data.phone,
        role=role,
    )
    return await users.add(user)


def _unprocessable(exc: ValidationError) -> Unprocessable:
    fields = [
        {"field": ".".join(str(part) for part in err["loc"]), "message": err["msg"]}
        for err in exc.errors(include_url=False)
    ]
    first = fields[0]
    return Unprocessable(f"{first['field']}: {first['message']}", details={"errors": fields})


# --- sign-in and refresh tokens ---------------------------------------------------------------


async def login(
    session: AsyncSession,
    settings: Settings,
    throttles: LoginThrottles,
    credentials: LoginRequest,
    client_address: str,
) -> TokenPair:
    """Checks email and password and starts a new refresh-token family."""
    await throttles.admit(credentials.email, client_address)
    users = UserRepository(session)
    user = await users.get_by_email(credentials.email)
    # With no user, a dummy hash is verified so both failures take the same time.
    valid = await asyncio.to_thread(
        verify_password, user.password_hash if user else None, credentials.password
    )
    if user is None or not valid or not user.is_active:
        await throttles.record_failure(credentials.email, client_address)
        raise InvalidCredentials()
    await throttles.record_success(credentials.email, client_address)
    if needs_rehash(user.password_hash):
        user.password_hash = await asyncio.to_thread(hash_password, credentials.password)
        await users.flush()
    return await _issue_token_pair(session, settings, user, family_id=new_id())


async def refresh_session(
    session: AsyncSession, settings: Settings, refresh_token: str
) -> TokenPair:
    """Rotates a refresh token: it is used up and a new one of the same family is issued."""
    tokens = RefreshTokenRepository(session)
    stored = await tokens.get_by_hash(hash_refresh_token(refresh_token))
    if stored is None:
        raise InvalidRefreshToken()
    if stored.used_at is not None:
        await _reject_reused_token(session, stored)
    now = utcnow()
    if stored.revoked_at is not None or stored.expires_at <= now:
        raise InvalidRefreshToken()
    user = await UserRepository(session).get(stored.user_id)
    if user is None or not user.is_active:
        raise InvalidRefreshToken()
    # Conditional update: of two requests racing with one token, only one marks it used.
    if not await tokens.mark_used(stored.id, now):
        await _reject_reused_token(session, stored)
    return await _issue_token_pair(session, settings, user, family_id=stored.family_id)


async def _reject_reused_token(session: AsyncSession, token: RefreshToken) -> NoReturn:
    """A used token came back: someone holds a copy, so the whole family is revoked."""
    family_id, user_id = token.family_id, token.user_id
    await RefreshTokenRepository(session).revoke_family(family_id, utcnow())
    # Committed here rather than by the request: the 401 raised next rolls the request's
    # transaction back, and the revocation must survive it.
    await commit_mid_request(session)
    log.warning("refresh token reused: revoked family %s of user %s", family_id, user_id)
    raise RefreshTokenReused()


async def _issue_token_pair(
    session: AsyncSession, settings: Settings, user: User, *, family_id: str
) -> TokenPair:
    now = utcnow()
    refresh_token = new_refresh_token()
    await RefreshTokenRepository(session).add(
        RefreshToken(
            user_id=user.id,
            family_id=family_id,
            token_hash=hash_refresh_token(refresh_token),
            issued_at=now,
            expires_at=now + timedelta(days=settings.refresh_token_days),
        )
    )
    access_token, expires_in = issue_access_token(settings, user.id, user.role, user.token_version)
    return TokenPair(access_token=access_token, refresh_token=refresh_token, expires_in=expires_in)


# --- identity on every request ----------------------------------------------------------------


async def load_identity(session: AsyncSession, user_id: str) -> Identity | None:
    """What the auth check needs of a user (the platform's identity loader, a hook)."""
    user = await UserRepository(session).get(user_id)
    if user is None:
        return None
    return Identity(
        user_id=user.id,
        role=user.role,
        is_active=user.is_active,
        token_version=user.token_version,
    )


async def record_identity_change(
    session: AsyncSession, user: User, changed: list[str], *, actor_id: str | None
) -> None:
    """After a change to what the auth check reads (role, active, token version): every
    instance forgets the user (`user.changed` on the bus), this one right after the commit."""
    await record_event(
        session,
        USER_CHANGED,
        aggregate_type="user",
        aggregate_id=user.id,
        payload={"user_id": user.id, "changed": changed},
        actor_id=actor_id,
    )
    forget_identity_on_commit(session, user.id)


# --- profile ----------------------------------------------------------------------------------


async def get_active_user(session: AsyncSession, user_id: str) -> User:
    """The signed-in user; 401 when the token's user was deleted or deactivated."""
    user = await UserRepository(session).get(user_id)
    if user is None or not user.is_active:
        raise AccountUnavailable()
    return user


class UserContact(NamedTuple):
    """What the notifications domain needs to reach a user."""

    email: str
    full_name: str
    notification_preferences: dict[str, Any]


_CONTACT_BATCH = 500  # ids per query, well under every driver's bind-parameter limit


async def contacts_for(session: AsyncSession, user_ids: Collection[str]) -> dict[str, UserContact]:
    """Email, name and notification preferences of the active users among `user_ids`
    (unknown or deactivated ids are left out), keyed by user id."""
    ids = list(dict.fromkeys(user_ids))
    users = UserRepository(session)
    contacts: dict[str, UserContact] = {}
    for start in range(0, len(ids), _CONTACT_BATCH):
        for user in await users.list_by_ids(ids[start : start + _CONTACT_BATCH]):
            if user.is_active:
                prefs = dict(DEFAULT_NOTIFICATION_PREFERENCES)
                prefs.update(user.notification_preferences or {})
                contacts[user.id] = UserContact(user.email, user.full_name, prefs)
    return contacts


async def update_profile(
    session: AsyncSession,
    throttles: LoginThrottles,
    user_id: str,
    changes: ProfileUpdate,
    client_address: str,
) -> User:
    """Applies the given fields; a password change ends every refresh-token family."""
    user = await get_active_user(session, user_id)
    if changes.password is not None and changes.current_password is not None:
        await _change_password(
            session, throttles, user, changes.password, changes.current_password, client_address
        )
    if changes.full_name is not None:
        user.full_name = changes.full_name
    if "phone" in changes.model_fields_set:
        user.phone = changes.phone
    if changes.notification_preferences is not None:
        given = changes.notification_preferences.model_dump(exclude_none=True)
        # A new dict, so the JSON column sees the change.
        user.notification_preferences = {**user.notification_preferences, **given}
    await UserRepository(session).flush()
    return user


async def _change_password(
    session: AsyncSession,
    throttles: LoginThrottles,
    user: User,
    new: str,
    current: str,
    client_address: str,
) -> None:
    # Guessing the current password here counts against the same limits as /login.
    await throttles.admit(user.email, client_address)
    if not await asyncio.to_thread(verify_password, user.password_hash, current):
        await throttles.record_failure(user.email, client_address)
        raise InvalidCurrentPassword()
    check_password_policy(new, user.email)
    user.password_hash = await asyncio.to_thread(hash_password, new)
    await RefreshTokenRepository(session).revoke_all_for_user(user.id, utcnow())
    # Every access token issued before ends too.
    user.token_version += 1
    await record_identity_change(session, user, ["password"], actor_id=user.id)
