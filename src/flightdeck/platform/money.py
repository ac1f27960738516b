"""Money: integer minor units and an ISO 4217 currency code. Never a float."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class Money(BaseModel):
    model_config = ConfigDict(frozen=True)

    amount: int = Field(ge=0, description="Integer minor units (cents)")
    currency: str = Field(pattern=r"^[A-Z]{3}$", examples=["USD"])

    def __add__(self, other: Money) -> Money:
        if other.currency != self.currency:
            raise ValueError(f"cannot add {other.currency} to {self.currency}")
        return Money(amount=self.amount + other.amount, currency=self.currency)

    def times(self, factor: int) -> Money:
        return Money(amount=self.amount * factor, currency=self.currency)
