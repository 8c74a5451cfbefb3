"""Public request models; their descriptions and examples are what /docs shows."""

from __future__ import annotations

import re
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, field_validator

EMAIL = re.compile(
    r"^[^@\s<>()\[\],;:\"]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+$"
)
Locale = Literal["zh-CN", "en"]


class NewProduct(BaseModel):
    """A product to put on sale; its keys are imported separately."""

    model_config = ConfigDict(extra="forbid")

    title: str = Field(
        min_length=1, max_length=200, description="Shown to buyers", examples=["Steam ¥100 gift card"]
    )
    description: str = Field(
        "", max_length=10_000, description="Shown to buyers", examples=["Redeem on Steam"]
    )
    price: int = Field(ge=0, description="Unit price in minor units (分/cents)", examples=[9900])
    currency: str = Field("CNY", pattern=r"^[A-Z]{3}$", description="ISO 4217 code", examples=["CNY"])
    delivery_type: Literal["card_key", "loop_key"] = Field(
        "card_key",
        description="card_key: each buyer gets distinct keys from the imported stock; "
        "loop_key: every buyer gets the same `loop_key`",
        examples=["card_key"],
    )
    loop_key: str | None = Field(
        None, max_length=10_000, description="Required for loop_key products", examples=[None]
    )
    usage_instructions: str = Field(
        "", max_length=10_000, description="Shown with the delivered keys", examples=["Steam > Redeem a code"]
    )


class NewOrder(BaseModel):
    """A buyer's order; the answer carries the token that opens the order later."""

    model_config = ConfigDict(extra="forbid")

    product_id: UUID = Field(
        description="From GET /api/v1/products", examples=["0190f3a2-7c1e-7d4b-9a8e-2f6c1b5d4e3a"]
    )
    quantity: int = Field(1, ge=1, le=1000, description="How many keys", examples=[1])
    email: str = Field(max_length=254, description="Where the keys are sent", examples=["buyer@example.com"])
    query_password: str | None = Field(
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

    @field_validator("email")
    @classmethod
    def _valid_email(cls, value: str) -> str:
        value = value.strip()
        if not EMAIL.fullmatch(value):
            raise ValueError("not a valid e-mail address")
        return value
