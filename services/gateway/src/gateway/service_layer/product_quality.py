"""The storefront's pre-sale figures of a product (delivery success rate over 7 days, typical paid to
delivered time; of a product with variants, all its options together) and whether it is paused, from the
inventory's hourly rollups (one indexed read of at most a week of rows per page, never a scan of
deliveries). A page without them still sells: an unanswered read shows none."""

from __future__ import annotations

import logging
from typing import Any
from uuid import UUID

from faka_common.errors import DomainError

from gateway.bootstrap import Gateway

log = logging.getLogger(__name__)


def _duration(seconds: int | None) -> tuple[str, int] | None:
    """("seconds" | "minutes" | "hours", how many) for "within N ..."; None when unknown."""
    if seconds is None:
        return None
    if seconds < 120:
        return "seconds", seconds
    if seconds < 7200:
        return "minutes", seconds // 60
    return "hours", seconds // 3600


def figures(answer: dict[str, Any]) -> dict[str, Any]:
    """What the product page shows of the inventory's quality answer."""
    week = answer.get("last_7_days", {})
    rate = week.get("success_rate")
    finished = int(week.get("delivered_orders", 0)) + int(week.get("failed_orders", 0))
    return {
        "paused": bool(answer.get("paused")),
        "orders_7d": finished,
        "success_7d": f"{rate * 100:.1f}%" if rate is not None else None,
        "typical_time": _duration(week.get("median_delivery_seconds")),
    }


async def product_quality(
    gw: Gateway, shop_id: UUID, product_id: str, family: bool = False
) -> dict[str, Any] | None:
    """The product's figures for its page, or None when the inventory did not answer them. With `family`,
    the 7-day figures are of its main product and all its variants together: the page sells them as the
    options of one product, so one figure speaks for what the buyer is choosing among."""
    try:
        path = f"/internal/products/{product_id}/quality"
        params = {"family": "true"} if family else None
        response = await gw.inventory.request("GET", path, params=params, shop=shop_id)
        return figures(response.json())
    except (DomainError, ValueError) as error:
        log.warning("no quality figures for product %s: %s", product_id, error)
        return None
