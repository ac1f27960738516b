"""Money: integer minor units and an ISO 4217 currency code. Never a float.

Amounts are bounded (platform/bounds.py): one price at most `MAX_AMOUNT` (`Fare`, and what
clients send), a computed total at most `MAX_TOTAL`, so no sum or product the server makes can
overflow a 64-bit column or lose precision in a JSON client.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from flightdeck.platform.bounds import MAX_AMOUNT, Amount, TotalAmount


class Money(BaseModel):
    model_config = ConfigDict(frozen=True)

    amount: TotalAmount
    currency: str = Field(pattern=r"^[A-Z]{3}$", examples=["USD"])

    def __add__(self, other: Money) -> Money:
        if other.currency != self.currency:
            raise ValueError(f"cannot add {other.currency} to {self.currency}")
        return Money(amount=self.amount + other.amount, currency=self.currency)

    def times(self, factor: int) -> Money:
        return Money(amount=self.amount * factor, currency=self.currency)


class Fare(Money):
    """One price per passenger (a cabin's fare): at most `MAX_AMOUNT` minor units. A `Money`
    is accepted where a Fare is expected (and checked against the cap)."""

    model_config = ConfigDict(frozen=True, from_attributes=True)

    amount: Amount = Field(description=f"Integer minor units, at most {MAX_AMOUNT:,}")
