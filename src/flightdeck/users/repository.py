"""All SQL of the users domain: users and refresh tokens."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, Update, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from flightdeck.users.errors import EmailTaken
from flightdeck.users.models import RefreshToken, User


class UserRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, user_id: str) -> User | None:
        return await self.session.get(User, user_id)

    async def get_by_email(self, email: str) -> User | None:
        """`email` must already be lower-cased (emails are stored that way)."""
        return await self.session.scalar(select(User).where(User.email == email))

    async def add(self, user: User) -> User:
        """Inserts the user; a concurrent registration of the same email raises `EmailTaken`."""
        self.session.add(user)
        try:
            await self.session.flush()
        except IntegrityError as exc:
            raise EmailTaken() from exc
        return user

    async def flush(self) -> None:
        """Writes pending changes to loaded users (the request commits them)."""
        await self.session.flush()

    async def list_by_ids(self, user_ids: Collection[str]) -> list[User]:
        """The users among `user_ids` that exist (any order)."""
        if not user_ids:
            return []
        result = await self.session.scalars(select(User).where(User.id.in_(list(user_ids))))
        return list(result)


class RefreshTokenRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, token: RefreshToken) -> RefreshToken:
        self.session.add(token)
        await self.session.flush()
        return token

    async def get_by_hash(self, token_hash: str) -> RefreshToken | None:
        return await self.session.scalar(
            select(RefreshToken).where(RefreshToken.token_hash == token_hash)
        )

    async def mark_used(self, token_id: str, at: datetime) -> bool:
        """Marks an unused, unrevoked token used; False when another request got there first."""
        updated = await self._updated_rows(
            update(RefreshToken)
            .where(
                RefreshToken.id == token_id,
                RefreshToken.used_at.is_(None),
                RefreshToken.revoked_at.is_(None),
            )
            .values(used_at=at)
            .execution_options(synchronize_session=False)
        )
        return updated == 1

    async def revoke_family(self, family_id: str, at: datetime) -> int:
        return await self._updated_rows(
            update(RefreshToken)
            .where(RefreshToken.family_id == family_id, RefreshToken.revoked_at.is_(None))
            .values(revoked_at=at)
            .execution_options(synchronize_session=False)
        )

    async def revoke_all_for_user(self, user_id: str, at: datetime) -> int:
        return await self._updated_rows(
            update(RefreshToken)
            .where(RefreshToken.user_id == user_id, RefreshToken.revoked_at.is_(None))
            .values(revoked_at=at)
            .execution_options(synchronize_session=False)
        )

    async def _updated_rows(self, statement: Update) -> int:
        result = await self.session.execute(statement)
        # An UPDATE always yields a cursor result; the generic signature does not say so.
        return cast("CursorResult[Any]", result).rowcount
