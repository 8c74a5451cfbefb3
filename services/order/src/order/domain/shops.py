"""The shops as the order service knows them (merchant's ShopChanged): whether one takes orders, and where
its storefront lives for the links a buyer is sent."""

from __future__ import annotations

import re
from dataclasses import dataclass
from uuid import UUID

from faka_common.contracts.shops import DEFAULT_SHOP_ID
from faka_common.errors import Conflict

#: A slug that may stand in a storefront path (merchant's rule; anything else is linked at the root).
SLUG = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")


@dataclass(frozen=True)
class KnownShop:
    shop_id: UUID
    slug: str
    name: str
    status: str

    @property
    def takes_orders(self) -> bool:
        """Only an active shop takes new orders; a suspended or closed one still delivers what was paid."""
        return self.status == "active"


class ShopClosed(Conflict):
    """The shop is not active (pending, suspended or closed): it takes no new orders (409)."""


def check_takes_orders(shop: KnownShop | None) -> None:
    """ShopClosed for a shop known not to be active. A shop not known yet is let through: its first
    ShopChanged is on its way, and the gateway asked merchant whether it takes orders."""
    if shop is not None and not shop.takes_orders:
        raise ShopClosed(f"shop {shop.name} is {shop.status} and takes no new orders")


def storefront_root(shop_id: UUID, shop: KnownShop | None) -> str:
    """The path of the shop's storefront under PUBLIC_BASE_URL: /s/<slug> for a known shop other than the
    default one, else "" (the root, which opens any shop's order: the safe answer for a shop not known)."""
    if shop_id == DEFAULT_SHOP_ID or shop is None or not SLUG.fullmatch(shop.slug):
        return ""
    return f"/s/{shop.slug}"
