"""User accounts as administrators manage them: the listing, and changing a role or
deactivating an account, which takes effect on the user's next request on every instance
(the auth check reads the user, see platform/security/identity.py)."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from flightdeck.platform.audit import changed_fields, record_audit
from flightdeck.platform.clock import utcnow
from flightdeck.platform.pagination import (
    Page,
    PageParams,
    decode_instant_cursor,
    instant_cursor,
)
from flightdeck.users.accounts import repository
from flightdeck.users.accounts.schemas import (
    UserAccessUpdate,
    UserAccountFilters,
    UserAccountRead,
)
from flightdeck.users.errors import OwnAccessUnchangeable, UserNotFound
from flightdeck.users.models import User
from flightdeck.users.repository import RefreshTokenRepository, UserRepository
from flightdeck.users.service import record_identity_change


async def list_accounts(
    session: AsyncSession, filters: UserAccountFilters, page: PageParams
) -> Page[UserAccountRead]:
    """Accounts matching the filters, newest first, keyset-paginated on (created_at, id)."""
    users = await repository.list_accounts(
        session,
        role=filters.role,
        email=filters.email,
        active=filters.active,
        limit=page.limit + 1,
        after=decode_instant_cursor(page.cursor),
    )
    items = list(users[: page.limit])
    next_cursor = None
    if len(users) > page.limit:
        last = items[-1]
        next_cursor = instant_cursor(last.created_at, last.id)
    return Page(
        items=[UserAccountRead.model_validate(user) for user in items], next_cursor=next_cursor
    )


def _access(user: User) -> dict[str, Any]:
    return {"role": user.role, "active": user.is_active}


async def update_access(
    session: AsyncSession, user_id: str, changes: UserAccessUpdate, *, actor_id: str
) -> UserAccountRead:
    """Changes a user's role and/or active flag. Deactivating ends every access token (token
    version) and revokes every refresh token. Audited; 404 `user_not_found`, 409
    `own_access_unchangeable` for the administrator's own account."""
    if user_id == actor_id:
        raise OwnAccessUnchangeable()
    users = UserRepository(session)
    user = await users.get(user_id)
    if user is None:
        raise UserNotFound()
    before = _access(user)
    if changes.role is not None:
        user.role = changes.role
    if changes.active is not None and changes.active != user.is_active:
        user.is_active = changes.active
        if not changes.active:
            user.token_version += 1
            await RefreshTokenRepository(session).revoke_all_for_user(user.id, utcnow())
    changed_before, changed_after = changed_fields(before, _access(user))
    if changed_after:
        await users.flush()
        await record_audit(
            session,
            action="update",
            entity="user",
            entity_id=user.id,
            before={"email": user.email, **changed_before},
            after={"email": user.email, **changed_after},
        )
        await record_identity_change(session, user, sorted(changed_after), actor_id=actor_id)
    return UserAccountRead.model_validate(user)


async def emails_for(session: AsyncSession, user_ids: Collection[str]) -> dict[str, str]:
    """The e-mail address of each of these users (unknown ids are left out)."""
    return await repository.emails_by_id(session, list(dict.fromkeys(user_ids)))


async def user_id_for_email(session: AsyncSession, email: str) -> str | None:
    """The id of the account with this address (exact, any case), by its unique index."""
    return await repository.user_id_by_email(session, email.strip().lower())
