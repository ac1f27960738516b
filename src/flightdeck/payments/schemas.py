"""Request and response bodies of payments.

Card number and CVC are `SecretStr`: they never appear in a repr, a log line, a validation
error or a dump; only the gateway reads them (`get_secret_value`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, EmailStr, Field, SecretStr

from flightdeck.platform.money import Money
from flightdeck.platform.text import RESOURCE_ID_PATTERN, SingleLineText

if TYPE_CHECKING:
    from flightdeck.payments.models import Payment, PaymentRefund

# `processing`: the attempt is with the processor; also what a 202 answers when the
# processor's answer was lost (the reconciler settles it, GET /payments/{id} shows the outcome).
PaymentStatus = Literal[
    "processing",
    "succeeded",
    "failed",
    "requires_action",
    "refunded",
    "partially_refunded",
    "disputed",
]


def _digits(length: tuple[int, int]) -> AfterValidator:
    def check(value: SecretStr) -> SecretStr:
        raw = value.get_secret_value().replace(" ", "").replace("-", "")
        if not raw.isdigit() or not length[0] <= len(raw) <= length[1]:
            raise ValueError(f"must be {length[0]} to {length[1]} digits")
        return SecretStr(raw)

    return AfterValidator(check)


CardNumber = Annotated[SecretStr, _digits((12, 19))]
Cvc = Annotated[SecretStr, _digits((3, 4))]


class CardMethod(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: Literal["card"]
    number: CardNumber = Field(examples=["4242424242424242"])
    exp_month: int = Field(ge=1, le=12)
    exp_year: int = Field(ge=2000, le=2100)
    cvc: Cvc = Field(examples=["123"])
    holder: SingleLineText = Field(min_length=1, max_length=100)

    @property
    def last4(self) -> str:
        return self.number.get_secret_value()[-4:]


class WalletMethod(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: Literal["wallet"]
    provider: Literal["apple_pay", "google_pay"]
    # Wallet tokens are printable ASCII (base64 and the like).
    token: str = Field(pattern=r"^[\x21-\x7e]{1,500}$", examples=["tok_success"])


class PayPalMethod(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: Literal["paypal"]
    payer_email: EmailStr


PaymentMethodIn = Annotated[CardMethod | WalletMethod | PayPalMethod, Field(discriminator="type")]


class PaymentCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    booking_id: str = Field(pattern=RESOURCE_ID_PATTERN)
    method: PaymentMethodIn
    amount: Money | None = Field(
        default=None, description="Optional: must equal the booking's total when given"
    )

    def fingerprint_body(self) -> dict[str, Any]:
        """What identifies the request for `Idempotency-Key` (no card number or CVC)."""
        body = self.model_dump(mode="json")
        if isinstance(self.method, CardMethod):
            body["method"]["number"] = self.method.last4
            body["method"].pop("cvc", None)
        return body


class PaymentMethodRead(BaseModel):
    type: Literal["card", "wallet", "paypal"]
    brand: str | None = None
    last4: str | None = None
    exp_month: int | None = None
    exp_year: int | None = None
    provider: str | None = None


class NextAction(BaseModel):
    type: Literal["confirm"] = "confirm"
    url: str


class RefundRead(BaseModel):
    """Money being paid back (`pending` until the processor has made it) or paid back."""

    id: str
    amount: Money
    status: Literal["pending", "succeeded"]
    reason: str = Field(examples=["booking_cancelled", "booking_not_confirmable"])
    created_at: datetime


class PaymentRead(BaseModel):
    id: str
    booking_id: str
    amount: Money
    status: PaymentStatus
    method: PaymentMethodRead
    failure_code: str | None = None
    next_action: NextAction | None = None
    refunded_amount: Money | None = Field(
        default=None, description="What has been paid back so far (succeeded refunds)"
    )
    refunds: list[RefundRead] = []
    created_at: datetime


class WebhookAck(BaseModel):
    status: Literal["processed", "duplicate", "ignored"]


def payment_to_read(payment: Payment, refunds: Sequence[PaymentRefund] = ()) -> PaymentRead:
    """The API view of a `models.Payment` row (with its refunds, when given)."""
    next_action = None
    if payment.status == "requires_action":
        next_action = NextAction(url=f"/payments/{payment.id}/confirm")
    refunded = None
    if payment.refunded_amount:
        refunded = Money(amount=payment.refunded_amount, currency=payment.currency)
    return PaymentRead(
        id=payment.id,
        booking_id=payment.booking_id,
        amount=Money(amount=payment.amount, currency=payment.currency),
        status=payment.status,
        method=PaymentMethodRead(
            type=payment.method_type,
            brand=payment.brand,
            last4=payment.last4,
            exp_month=payment.exp_month,
            exp_year=payment.exp_year,
            provider=payment.wallet_provider,
        ),
        failure_code=payment.failure_code,
        next_action=next_action,
        refunded_amount=refunded,
        refunds=[
            RefundRead(
                id=refund.id,
                amount=Money(amount=refund.amount, currency=refund.currency),
                status=refund.status,
                reason=refund.reason,
                created_at=refund.created_at,
            )
            for refund in refunds
        ],
        created_at=payment.created_at,
    )
