"""Public request models; their descriptions and examples are what /docs shows."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal, Self
from uuid import UUID

from faka_common.contracts.risk_rules import DeviceId
from faka_common.fields import (
    LINE_PATTERN,
    LINE_REFUSES,
    MAX_MONEY,
    NONBLANK_LINE_PATTERN,
    Line,
    Money,
    NonBlankLine,
    Text,
)
from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)
from pydantic.json_schema import SkipJsonSchema, WithJsonSchema

_NOT_IN_EMAIL = LINE_REFUSES + r"@\s<>()\[\],;:\""
#: What the order service takes, in the schema: printable, no white space, a dotted domain.
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
EMAIL_PATTERN = f"^[^{_NOT_IN_EMAIL}]+@{_LABEL}(?:\\.{_LABEL})+$"
EMAIL = re.compile(EMAIL_PATTERN)
Locale = Literal["zh-CN", "en"]
BuyerFieldName = Annotated[NonBlankLine, StringConstraints(strip_whitespace=True, max_length=40)]
BuyerFieldValue = Annotated[Line, StringConstraints(max_length=200)]
#: pydantic would say the key rule as patternProperties, which leaves keys that miss it unconstrained
BuyerFields = Annotated[
    dict[BuyerFieldName, BuyerFieldValue],
    WithJsonSchema(
        {
            "type": "object",
            "maxProperties": 10,
            "propertyNames": {"maxLength": 40, "pattern": NONBLANK_LINE_PATTERN},
            "additionalProperties": {"type": "string", "maxLength": 200, "pattern": LINE_PATTERN},
        }
    ),
]
CouponCode = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=40, pattern=r"^[A-Za-z0-9_-]+$")
]


def only_with(field: str, delivery_type: str) -> dict[str, Any]:
    """JSON Schema for: `field` is absent or null unless the product's delivery_type is `delivery_type`."""
    return {
        "anyOf": [
            {"required": ["delivery_type"], "properties": {"delivery_type": {"const": delivery_type}}},
            {"properties": {field: {"type": "null"}}},
        ]
    }


#: The rules between fields, in JSON Schema without if/then: a variant names its option; a loop_key product
#: carries its key and only it does; only a recharge product has a face value.
PRODUCT_RULES: dict[str, Any] = {
    "allOf": [
        {
            "anyOf": [
                {"properties": {"variant_of": {"type": "null"}}},
                {"required": ["variant_label"], "properties": {"variant_label": {"type": "string"}}},
            ]
        },
        {
            "anyOf": [
                {
                    "properties": {"delivery_type": {"not": {"const": "loop_key"}}},
                    "required": ["delivery_type"],
                },
                {"required": ["loop_key"], "properties": {"loop_key": {"type": "string", "pattern": r"\S"}}},
            ]
        },
        only_with("loop_key", "loop_key"),
        only_with("face_value", "recharge"),
    ]
}


class NewProduct(BaseModel):
    """A product to put on sale; its keys are imported separately."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=PRODUCT_RULES)

    title: NonBlankLine = Field(
        max_length=200, description="Shown to buyers", examples=["Steam ¥100 gift card"]
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
    replacement_window_hours: int = Field(
        24,
        ge=0,
        le=24 * 365,
        description="After-sales: a key reported invalid this long after delivery is replaced automatically",
    )
    replacements_per_order: int = Field(
        1, ge=0, le=1000, description="After-sales: automatic replacements per order (0: the shop decides)"
    )
    replacement_evidence_required: bool = Field(
        False, description="After-sales: a claim without evidence goes to the shop"
    )
    variant_of: UUID | None = Field(
        None,
        description="SKUs: the main product this one is a variant of (own price, stock and keys); "
        "the storefront lists it under the main product",
        examples=[None],
    )
    variant_label: NonBlankLine | None = Field(
        None,
        max_length=60,
        description="The variant's option name; required with variant_of",
        examples=["¥100"],
    )

    @model_validator(mode="after")
    def _fields_fit_together(self) -> Self:
        if self.variant_of is not None and self.variant_label is None:
            raise ValueError("a variant (variant_of) needs a variant_label")
        if self.delivery_type == "loop_key" and not (self.loop_key or "").strip():
            raise ValueError("a loop_key product needs a non-empty loop_key")
        if self.delivery_type != "loop_key" and self.loop_key is not None:
            raise ValueError("loop_key only applies to loop_key products")
        if self.delivery_type != "recharge" and self.face_value is not None:
            raise ValueError("face_value only applies to recharge products")
        return self


class NewOrder(BaseModel):
    """A buyer's order; the answer carries the token that opens the order later."""

    model_config = ConfigDict(extra="forbid")

    product_id: UUID = Field(
        description="From GET /api/v1/products", examples=["0190f3a2-7c1e-7d4b-9a8e-2f6c1b5d4e3a"]
    )
    quantity: int = Field(1, ge=1, le=1000, description="How many keys", examples=[1])
    email: str = Field(
        max_length=254,
        description="Where the keys are sent",
        examples=["buyer@example.com"],
        json_schema_extra={"pattern": EMAIL_PATTERN},  # checked below, with a message people can read
    )
    phone: str | None = Field(
        None,
        max_length=31,
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
    buyer_fields: BuyerFields | None = Field(
        None,
        max_length=10,
        description="What the product asks of the buyer (recharge: `account`); at most 10 fields, "
        "names up to 40 characters, values up to 200",
        examples=[{"account": "13800138000"}],
    )
    device_id: DeviceId | None = Field(
        None,
        description="Optional: the buyer's device id for the shop's risk rules (lists, orders per device). "
        "The storefront sends a random id kept in the browser's localStorage: it names a browser profile, "
        "not a device, and anyone can send any id, so it is one signal among others",
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

    token: Line | None = Field(None, max_length=128, examples=["eyJvIjoi..."])
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


#: The order service keeps use counts in 32-bit columns.
MAX_USES = 10**9

#: A coupon is for one product, one category or everything: never both.
ONE_TARGET: dict[str, Any] = {
    "anyOf": [
        {"properties": {"product_id": {"type": "null"}}},
        {"properties": {"category_id": {"type": "null"}}},
    ]
}


class CouponFields(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra=ONE_TARGET)

    code: CouponCode = Field(examples=["SPRING10"])
    product_id: UUID | None = None
    category_id: UUID | None = None
    usage_limit: int | None = Field(
        None, ge=1, le=MAX_USES, description="Uses in all; omitted: unlimited", examples=[100]
    )
    per_buyer_limit: int | None = Field(
        None, ge=1, le=MAX_USES, description="Uses per buyer e-mail", examples=[1]
    )
    expires_at: AwareDatetime | None = Field(
        None, description="In the future", examples=["2026-12-31T23:59:59+08:00"]
    )

    @model_validator(mode="after")
    def _one_target(self) -> Self:
        if self.product_id is not None and self.category_id is not None:
            raise ValueError("a coupon applies to one product or one category, not both")
        return self


class FixedCoupon(CouponFields):
    """Takes `value` minor units of `currency` off."""

    kind: Literal["fixed"] = Field(examples=["fixed"])
    value: int = Field(ge=1, le=MAX_MONEY, description=f"Minor units, at most {MAX_MONEY}", examples=[500])
    currency: str = Field(pattern=r"^[A-Z]{3}$", examples=["CNY"])


class PercentCoupon(CouponFields):
    """Takes `value`% off (rounded half up to the minor unit)."""

    kind: Literal["percent"] = Field(examples=["percent"])
    value: int = Field(ge=1, le=100, examples=[10])
    currency: str | None = Field(None, pattern=r"^[A-Z]{3}$", examples=[None])


NewCoupon = Annotated[FixedCoupon | PercentCoupon, Field(discriminator="kind")]


class NewCategory(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: NonBlankLine = Field(max_length=200, examples=["Gift cards"])
    sort_order: int = Field(0, ge=-(10**6), le=10**6, description="Storefront order, ascending")
    visible: bool = True


NOT_NULLABLE = ("title", "description", "price", "currency", "usage_instructions", "active", "visible",
                "sort_order", "issue_order", "hide_when_sold_out", "replacement_window_hours",
                "replacements_per_order", "replacement_evidence_required")  # fmt: skip


class ProductChanges(BaseModel):
    """Only the fields sent change; null clears an optional field (category, limits, threshold, face value,
    variant label)."""

    model_config = ConfigDict(extra="forbid")

    title: Annotated[NonBlankLine, StringConstraints(max_length=200)] | SkipJsonSchema[None] = None
    description: Annotated[Text, StringConstraints(max_length=10_000)] | SkipJsonSchema[None] = None
    price: Money | SkipJsonSchema[None] = None
    currency: Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")] | SkipJsonSchema[None] = None
    usage_instructions: Annotated[Text, StringConstraints(max_length=10_000)] | SkipJsonSchema[None] = None
    category_id: UUID | None = None
    max_per_order: Annotated[int, Field(ge=1, le=1_000_000)] | None = None
    max_per_buyer: Annotated[int, Field(ge=1, le=1_000_000)] | None = None
    active: bool | SkipJsonSchema[None] = None
    visible: bool | SkipJsonSchema[None] = None
    sort_order: Annotated[int, Field(ge=-(10**6), le=10**6)] | SkipJsonSchema[None] = None
    issue_order: Literal["fifo", "random"] | SkipJsonSchema[None] = None
    low_stock_threshold: Annotated[int, Field(ge=0, le=10**9)] | None = None
    face_value: Annotated[int, Field(gt=0, le=MAX_MONEY)] | None = None
    hide_when_sold_out: bool | SkipJsonSchema[None] = None
    variant_label: Annotated[NonBlankLine, StringConstraints(max_length=60)] | None = None
    replacement_window_hours: Annotated[int, Field(ge=0, le=24 * 365)] | SkipJsonSchema[None] = None
    replacements_per_order: Annotated[int, Field(ge=0, le=1000)] | SkipJsonSchema[None] = None
    replacement_evidence_required: bool | SkipJsonSchema[None] = None

    @model_validator(mode="before")
    @classmethod
    def _no_null_where_none_is_kept(cls, data: Any) -> Any:
        if isinstance(data, dict):
            nulls = sorted(k for k in NOT_NULLABLE if k in data and data[k] is None)
            if nulls:
                raise ValueError(f"cannot be null: {', '.join(nulls)}")
        return data


class KeyReplacement(BaseModel):
    model_config = ConfigDict(extra="forbid")

    content: NonBlankLine = Field(max_length=1000, description="The new key", examples=["STEAM-NEW-KEY"])
