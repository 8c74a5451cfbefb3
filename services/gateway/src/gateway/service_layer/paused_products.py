"""Which of a shop's products are paused by their after-sales rate, for the storefront home: the storefront
read model does not carry it, so the inventory's product list (its `paused`) is read at most once per
TTL_SECONDS per shop. A pause shows on the home within that; the product page and the checkout ask the
inventory themselves, so a paused product is never sold meanwhile. While the inventory cannot answer, the
kept answer is used however old (a shop never seen: none marked); the home never fails for want of it."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from uuid import UUID

import httpx
from faka_common.errors import DomainError

from gateway.adapters.owners import json_body
from gateway.bootstrap import Gateway

log = logging.getLogger(__name__)

TTL_SECONDS = 30.0


class PausedProducts:
    def __init__(self, ttl: float = TTL_SECONDS, clock: Callable[[], float] = time.monotonic) -> None:
        self._ttl = ttl
        self._clock = clock
        self._kept: dict[UUID, tuple[float, frozenset[str]]] = {}

    async def of(self, gw: Gateway, shop_id: UUID) -> frozenset[str]:
        """The ids of the shop's paused products."""
        kept = self._kept.get(shop_id)
        if kept is not None and self._clock() - kept[0] < self._ttl:
            return kept[1]
        try:
            body = json_body(await gw.inventory.request("GET", "/internal/products", shop=shop_id))
        except (DomainError, httpx.HTTPError, OSError) as error:
            log.warning("paused products of shop %s unavailable (%s)", shop_id, error)
            return kept[1] if kept is not None else frozenset()
        items = body.get("items", []) if isinstance(body, dict) else []
        paused = frozenset(str(p.get("product_id")) for p in items if isinstance(p, dict) and p.get("paused"))
        self._kept[shop_id] = (self._clock(), paused)
        return paused


PAUSED_PRODUCTS = PausedProducts()
