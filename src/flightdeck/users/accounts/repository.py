"""SQL of the account listing (the users table belongs to the users domain)."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime

from sqlalchemy import Select, and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from flightdeck.users.models import User


def accounts_statement(
    *,
    role: str | None,
    email: str | None,
    active: bool | None,
    limit: int,
    after: tuple[datetime, str] | None,
) -> Select[User]:
    """Newest accounts first on (created_at, id), strictly after the keyset `after`."""
    statement = select(User)
    if role is not None:
        statement = statement.where(User.role == role)
    if email is not None:
        statement = statement.where(User.email == email)  # the unique index
    if active is not None:
        statement = statement.where(User.is_active.is_(active))
    if after is not None:
        created_at, user_id = after
        statement = statement.where(
            or_(
                User.created_at < created_at,
                and_(User.created_at == created_at, User.id < user_id),
            )
        )
    return statement.order_by(User.created_at.desc(), User.id.desc()).limit(limit)


async def list_accounts(
    session: AsyncSession,
    *,
    role: str | None,
    email: str | None,
    active: bool | None,
    limit: int,
    after: tuple[datetime, str] | None = None,
) -> Sequence[User]:
    statement = accounts_statement(role=role, email=email, active=active, limit=limit, after=after)
    return (await session.scalars(statement)).all()


async def emails_by_id(session: AsyncSession, user_ids: Collection[str]) -> dict[str, str]:
    """The e-mail address of each of these users that exists."""
    if not user_ids:
        return {}
    rows = await session.execute(select(User.id, User.email).where(User.id.in_(list(user_ids))))
    return {user_id: email for user_id, email in rows}


async def user_id_by_email(session: AsyncSession, email: str) -> str | None:
    return await session.scalar(select(User.id).where(User.email == email))
