"""A shop as the gateway serves it: where its storefront lives and whether it takes orders."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from faka_common.errors import Conflict

#: A storefront path's shop: /s/<slug>/… (the merchant service's slug rule, loosely: it decides).
SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")


@dataclass(frozen=True)
class Shop:
    id: UUID
    slug: str
    name: str
    status: str
    currency: str = "CNY"
    contact: str = ""
    #: Storefront languages, the first the shop's default (the merchant service's default: both).
    languages: tuple[str, ...] = ("zh-CN", "en")
    #: The platform's fee on the shop's sales in basis points; None: the platform's default.
    fee_rate_bps: int | None = None

    @classmethod
    def from_merchant(cls, body: dict[str, Any]) -> Shop:
        return cls(
            id=UUID(str(body["shop_id"])),
            slug=str(body["slug"]),
            name=str(body["name"]),
            status=str(body["status"]),
            currency=str(body.get("currency") or "CNY"),
            contact=str(body.get("contact") or ""),
            languages=tuple(str(code) for code in body.get("languages") or ("zh-CN", "en")),
            fee_rate_bps=None if body.get("fee_rate_bps") is None else int(body["fee_rate_bps"]),
        )

    @property
    def takes_orders(self) -> bool:
        """Only an active shop takes new orders; a suspended one still delivers what was paid."""
        return self.status == "active"


class ShopClosed(Conflict):
    """The shop is suspended or closed: it takes no new orders (what was paid is still delivered)."""


def open_shop(shop: Shop) -> Shop:
    """The shop, when it takes new orders (ShopClosed otherwise)."""
    if not shop.takes_orders:
        raise ShopClosed(f"{shop.name} is {shop.status} and takes no new orders")
    return shop
