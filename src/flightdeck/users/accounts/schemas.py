"""Shapes of the user accounts as administrators see and change them."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StringConstraints, model_validator

Role = Literal["passenger", "agent", "admin"]


class UserAccountFilters(BaseModel):
    """`GET /admin/users` filters; `email` is an exact address (any case)."""

    role: Role | None = None
    email: Annotated[
        str | None, StringConstraints(strip_whitespace=True, to_lower=True, max_length=320)
    ] = None
    active: bool | None = None


class UserAccountRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    email: str
    full_name: str
    role: str
    active: bool = Field(validation_alias="is_active")
    created_at: datetime


class UserAccessUpdate(BaseModel):
    """What an administrator may change on an account; fields left out stay as they are."""

    model_config = ConfigDict(extra="forbid")

    role: Role | None = None
    active: StrictBool | None = None

    @model_validator(mode="after")
    def _something_to_change(self) -> Self:
        for name in ("role", "active"):
            if name in self.model_fields_set and getattr(self, name) is None:
                raise ValueError(f"{name} cannot be null")
        if self.role is None and self.active is None:
            raise ValueError("give role or active")
        return self
