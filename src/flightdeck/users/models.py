"""Users and their refresh-token families."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column

from flightdeck.platform.db import Base, IdMixin, TimestampMixin, UTCDateTime
from flightdeck.platform.security.encryption import EncryptedString

DEFAULT_NOTIFICATION_PREFERENCES: dict[str, Any] = {"email": True, "push": True}


class User(IdMixin, TimestampMixin, Base):
    __tablename__ = "users"

    email: Mapped[str] = mapped_column(String(320), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    full_name: Mapped[str] = mapped_column(String(200))
    # Personal data: encrypted at rest (AES-256-GCM, key id in the stored value).
    phone: Mapped[str | None] = mapped_column(EncryptedString(), default=None)
    role: Mapped[str] = mapped_column(String(16), default="passenger", index=True)
    notification_preferences: Mapped[dict[str, Any]] = mapped_column(
        JSON, default=lambda: dict(DEFAULT_NOTIFICATION_PREFERENCES)
    )
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    # In every access token; moved on by a password change or a deactivation, which ends
    # every token issued before.
    token_version: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))


class RefreshToken(IdMixin, Base):
    """One issued refresh token. Tokens of one sign-in share a family; reuse revokes it."""

    __tablename__ = "refresh_tokens"

    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    family_id: Mapped[str] = mapped_column(String(36), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
