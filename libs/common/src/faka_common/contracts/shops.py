"""Shops, the platform's tenants: the default shop, the field every shop-owned message carries, and the
merchant service's shop events."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Literal
from uuid import UUID

from pydantic import Field

from faka_common.contracts import topics
from faka_common.contracts.envelope import Message

DEFAULT_SHOP_ID = UUID("00000000-0000-4000-8000-000000000001")
"""The shop an installation's data belongs to before it hosts others (the migrations backfill it), and the
shop of a message produced before messages named their shop."""

ShopStatus = Literal["pending", "active", "suspended", "closed"]


def shop_id_field() -> Any:
    """The `shop_id` of a shop-owned message: the aggregate's shop (older messages: the default shop)."""
    return Field(default=DEFAULT_SHOP_ID, description="The shop the aggregate belongs to")


class ShopChanged(Message):
    """The shop as it is now (opened, renamed, suspended, its addresses or settings changed): services keep
    what they need of it."""

    type_name: ClassVar[str] = "ShopChanged"
    topic: ClassVar[str] = topics.MERCHANT_EVENTS
    key_field: ClassVar[str] = "shop_id"

    shop_id: UUID
    slug: str = Field(examples=["default", "game-cards"])
    name: str
    status: ShopStatus
    currency: str = Field(default="CNY", examples=["CNY"])
    languages: list[str] = Field(default_factory=lambda: ["zh-CN", "en"])
    domains: list[str] = Field(default_factory=list, examples=[["cards.example.com"]])
    contact: str = Field(default="", description="How buyers reach the seller (email, Telegram, …)")


@dataclass(frozen=True)
class KnownShop:
    """A shop as a service knows it from merchant's latest ShopChanged (its shops read model,
    faka_common.db.shops)."""

    shop_id: UUID
    slug: str
    name: str
    status: str
    contact: str = ""

    @classmethod
    def of(cls, event: ShopChanged) -> KnownShop:
        return cls(event.shop_id, event.slug, event.name, event.status, event.contact)

    @property
    def takes_orders(self) -> bool:
        """Only an active shop takes new orders; a suspended or closed one still delivers what was paid."""
        return self.status == "active"
