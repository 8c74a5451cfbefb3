"""The shops as the order service knows them (merchant's ShopChanged, faka_common's KnownShop): whether one
takes orders, and where its storefront lives for the links a buyer is sent."""

from __future__ import annotations

import re
from uuid import UUID

from faka_common.contracts.shops import DEFAULT_SHOP_ID, KnownShop
from faka_common.errors import Conflict

#: A slug that may stand in a storefront path (merchant's rule; anything else is linked at the root).
SLUG = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")


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
