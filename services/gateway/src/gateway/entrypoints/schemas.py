"""Public request models; their descriptions and examples are what /docs shows."""

from __future__ import annotations

import re
from typing import Annotated, Literal
from uuid import UUID

from faka_common.fields import MAX_MONEY, Line, Money, Text
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints, field_validator

EMAIL = re.compile(
    r"^[^@\s<>()\[\],;:\"]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+$"
)
Locale = Literal["zh-CN", "en"]
BuyerFieldName = Annotated[Line, StringConstraints(strip_whitespace=True, min_length=1, max_length=40)]
BuyerFieldValue = Annotated[Line, StringConstraints(max_length=200)]
CouponCode = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=40, pattern=r"^[A-Za-z0-9_-]+$")
]


class NewProduct(BaseModel):
    """A product to put on sale; its keys are imported separately."""

    model_config = ConfigDict(extra="forbid")

    title: Line = Field(
        min_length=1, max_length=200, description="Shown to buyers", examples=["Steam ¥100 gift card"]
    )
    description: Text = Field(
        "", max_length=10_000, description="Shown to buyers", examples=["Redeem on Steam"]
    )
    price: Money = Field(
        description=f"Unit price in minor units (分/cents), at most {MAX_MONEY}", examples=[9900]
    )
    currency: str = Field("CNY", pattern=r"^[A-Z]{3}$", description="ISO 4217 code", examples=["CNY"])
    delivery_type: Literal["card_key", "loop_key", "manual", "recharge"] = Field(
        "card_key",
        description="card_key: each buyer gets distinct keys from the imported stock; "
        "loop_key: every buyer gets the same `loop_key`; manual: an operator delivers (manual queue); "
        "recharge: a supplier tops up the account the buyer names",
        examples=["card_key"],
    )
    loop_key: Text | None = Field(
        None, max_length=10_000, description="Required for loop_key products", examples=[None]
    )
    face_value: Money | None = Field(
        None, gt=0, description="Recharge products: what one unit tops up, in minor units", examples=[None]
    )
    usage_instructions: Text = Field(
        "", max_length=10_000, description="Shown with the delivered keys", examples=["Steam > Redeem a code"]
    )
    category_id: UUID | None = Field(None, description="From POST /api/admin/categories", examples=[None])
    max_per_order: int | None = Field(
        None, ge=1, le=1_000_000, description="Most units one order may buy", examples=[None]
    )
    max_per_buyer: int | None = Field(
        None, ge=1, le=1_000_000, description="Most units one buyer may buy", examples=[None]
    )
    visible: bool = Field(True, description="Listed in the storefront (hidden: buyable by link only)")
    sort_order: int = Field(0, ge=-(10**6), le=10**6, description="Storefront order, ascending")
    issue_order: Literal["fifo", "random"] = Field("fifo", description="Which key a sale takes first")
    low_stock_threshold: int | None = Field(
        None, ge=0, le=10**9, description="Alert the seller at this many keys"
    )
    hide_when_sold_out: bool = Field(False, description="Leave it out of the storefront while sold out")
    variant_of: UUID | None = Field(
        None,
        description="SKUs: the main product this one is a variant of (own price, stock and keys); "
        "the storefront lists it under the main product",
        examples=[None],
    )
    variant_label: Line | None = Field(
        None, min_length=1, max_length=60, description="The variant's option name", examples=["¥100"]
    )


class NewOrder(BaseModel):
    """A buyer's order; the answer carries the token that opens the order later."""

    model_config = ConfigDict(extra="forbid")

    product_id: UUID = Field(
        description="From GET /api/v1/products", examples=["0190f3a2-7c1e-7d4b-9a8e-2f6c1b5d4e3a"]
    )
    quantity: int = Field(1, ge=1, le=1000, description="How many keys", examples=[1])
    email: Line = Field(max_length=254, description="Where the keys are sent", examples=["buyer@example.com"])
    phone: str | None = Field(
        None,
        max_length=32,
        pattern=r"^\+?[0-9](?:[ ().-]*[0-9]){4}[0-9 ().-]*$",
        description="Optional: a phone number for SMS notices (at least 5 digits, the first one leading)",
        examples=["+86 138 0013 8000"],
    )
    query_password: Line | None = Field(
        None,
        min_length=6,
        max_length=64,
        description="Optional: lets the buyer open the order with this password instead of the token",
        examples=["my-secret-1"],
    )
    locale: Locale | None = Field(
        None,
        description="Language of the e-mails; defaults from Accept-Language, else zh-CN",
        examples=["en"],
    )
    coupon_code: CouponCode | None = Field(
        None, description="Optional: one coupon per order (case-insensitive)", examples=["SPRING10"]
    )
    buyer_fields: dict[BuyerFieldName, BuyerFieldValue] | None = Field(
        None,
        max_length=10,
        description="What the product asks of the buyer (recharge: `account`); at most 10 fields, "
        "names up to 40 characters, values up to 200",
        examples=[{"account": "13800138000"}],
    )

    @field_validator("email")
    @classmethod
    def _valid_email(cls, value: str) -> str:
        value = value.strip()
        if not EMAIL.fullmatch(value):
            raise ValueError("not a valid e-mail address")
        return value


class OrderSecretBody(BaseModel):
    """The order's token (from its link) or the buyer's query password: what proves the order is theirs."""

    model_config = ConfigDict(extra="forbid")

    token: Line | None = Field(None, max_length=512, examples=["eyJvIjoi..."])
    password: Line | None = Field(None, max_length=64, examples=[None])


class OrderLookup(BaseModel):
    """A buyer's recent orders: the e-mail used at checkout and the query password chosen then."""

    model_config = ConfigDict(extra="forbid")

    email: Line = Field(max_length=254, examples=["buyer@example.com"])
    password: Line = Field(min_length=1, max_length=64, examples=["my-secret-1"])


class LinkEmailRequest(BaseModel):
    """The address the order was placed with: the order's link is e-mailed there if it is that address."""

    model_config = ConfigDict(extra="forbid")

    email: Line = Field(
        min_length=1,
        max_length=254,
        description="The e-mail address given at checkout (case does not matter); any other text gets the "
        "same answer and no e-mail",
        examples=["buyer@example.com"],
    )


class LinkEmailAccepted(BaseModel):
    """The answer to every link request, whether or not an e-mail is sent."""

    status: Literal["accepted"] = Field(examples=["accepted"])


class PriceTier(BaseModel):
    model_config = ConfigDict(extra="forbid")

    min_quantity: int = Field(ge=2, le=1_000_000, description="From this many units on", examples=[10])
    unit_price: Money = Field(description=f"Minor units per unit, at most {MAX_MONEY}", examples=[4500])


class PriceTiers(BaseModel):
    """Wholesale prices; replaces every tier of the product (an empty list removes them)."""

    model_config = ConfigDict(extra="forbid")

    tiers: list[PriceTier] = Field(max_length=20)


class NewCoupon(BaseModel):
    """A coupon: `fixed` takes `value` minor units of `currency` off, `percent` takes `value`% off
    (rounded half up to the minor unit); for one product, one category, or everything."""

    model_config = ConfigDict(extra="forbid")

    code: CouponCode = Field(examples=["SPRING10"])
    kind: Literal["fixed", "percent"] = Field(examples=["percent"])
    value: int = Field(
        ge=1,
        le=MAX_MONEY,
        description=f"fixed: minor units (at most {MAX_MONEY}); percent: 1..100",
        examples=[10],
    )
    currency: str | None = Field(
        None, pattern=r"^[A-Z]{3}$", description="Required for fixed", examples=[None]
    )
    product_id: UUID | None = None
    category_id: UUID | None = None
    usage_limit: int | None = Field(None, ge=1, description="Uses in all; omitted: unlimited", examples=[100])
    per_buyer_limit: int | None = Field(None, ge=1, description="Uses per buyer e-mail", examples=[1])
    expires_at: AwareDatetime | None = Field(None, examples=["2026-12-31T23:59:59+08:00"])
