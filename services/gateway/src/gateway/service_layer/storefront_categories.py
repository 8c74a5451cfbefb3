"""The names of a shop's categories for its storefront home, kept a short while per shop: the storefront
read model carries each product's category id only, and the home must not ask the inventory on every
request. While the inventory cannot answer, the kept names are used however old, and a shop never seen
gets none (its products are listed without headings); the home never fails for want of them."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any
from uuid import UUID

import httpx
from faka_common.errors import DomainError

from gateway.adapters.owners import json_body
from gateway.bootstrap import Gateway

log = logging.getLogger(__name__)

#: How long a shop's category names are kept (a renamed category shows within this).
TTL_SECONDS = 30.0


class CategoryNames:
    def __init__(self, ttl: float = TTL_SECONDS, clock: Callable[[], float] = time.monotonic) -> None:
        self._ttl = ttl
        self._clock = clock
        self._kept: dict[UUID, tuple[float, list[dict[str, Any]]]] = {}

    async def of(self, gw: Gateway, shop_id: UUID) -> list[dict[str, Any]]:
        kept = self._kept.get(shop_id)
        if kept is not None and self._clock() - kept[0] < self._ttl:
            return kept[1]
        try:
            body = json_body(await gw.inventory.request("GET", "/internal/categories", shop=shop_id))
            items = [dict(item) for item in body.get("items", [])] if isinstance(body, dict) else []
        except (DomainError, httpx.HTTPError, OSError) as error:
            log.warning("category names of shop %s unavailable (%s)", shop_id, error)
            return kept[1] if kept is not None else []
        self._kept[shop_id] = (self._clock(), items)
        return items


#: One per process, like the gateway's other short-lived caches of owners' answers.
CATEGORY_NAMES = CategoryNames()
