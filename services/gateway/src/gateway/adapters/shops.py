"""Where the gateway learns of shops: the merchant service, with a short cache (a storefront request
must not cost a call to merchant; a shop's suspension shows within `ttl` seconds)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Protocol
from urllib.parse import quote
from uuid import UUID

from faka_common.contracts.shops import DEFAULT_SHOP_ID
from faka_common.errors import DomainError, NotFound, Unavailable

from gateway.adapters.owners import Owner, json_body
from gateway.domain.shops import Shop


class Shops(Protocol):
    async def by_id(self, shop_id: UUID) -> Shop:
        """The shop with this id (NotFound)."""

    async def by_slug(self, slug: str) -> Shop:
        """The shop at /s/<slug> (NotFound)."""

    async def by_host(self, host: str) -> Shop | None:
        """The shop whose custom domain this is; None when no shop has it."""

    def forget(self, shop_id: UUID) -> None:
        """Drop what is kept of a shop that was just changed."""


class MerchantShops:
    """Shops as the merchant service answers them, each answer kept `ttl` seconds; while merchant cannot
    be reached a kept answer is used however old (a storefront keeps selling through a merchant restart)."""

    def __init__(
        self, merchant: Owner, ttl: float = 10.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._merchant = merchant
        self._ttl = ttl
        self._clock = clock
        self._kept: dict[str, tuple[float, Shop | None]] = {}

    async def by_id(self, shop_id: UUID) -> Shop:
        shop = await self._lookup(f"id:{shop_id}", f"/internal/shops/{shop_id}", {})
        if shop is None:
            raise NotFound(f"no shop {shop_id}")
        return shop

    async def by_slug(self, slug: str) -> Shop:
        shop = await self._lookup(f"slug:{slug}", "/internal/shops/resolve", {"slug": slug})
        if shop is None:
            raise NotFound(f"no shop at /s/{quote(slug, safe='')}")
        return shop

    async def by_host(self, host: str) -> Shop | None:
        return await self._lookup(f"host:{host}", "/internal/shops/resolve", {"host": host})

    def forget(self, shop_id: UUID) -> None:
        """Drop what is kept of a shop this gateway just changed, so its next request sees the change."""
        self._kept = {
            key: kept for key, kept in self._kept.items() if kept[1] is None or kept[1].id != shop_id
        }

    async def _lookup(self, key: str, path: str, params: dict[str, str]) -> Shop | None:
        now = self._clock()
        kept = self._kept.get(key)
        if kept is not None and kept[0] > now:
            return kept[1]
        try:
            shop: Shop | None = Shop.from_merchant(
                json_body(await self._merchant.request("GET", path, params=params))
            )
        except Unavailable:
            if kept is None:
                raise
            return kept[1]
        except DomainError as error:
            if error.status_code not in (404, 422):  # 422: not even a slug or a host name: no shop has it
                raise
            shop = None
        self._kept[key] = (now + self._ttl, shop)
        return shop


class KnownShops:
    """A fixed set of shops: the unit tests' stand-in for the merchant service. `hosts` maps custom domains
    to slugs; with `any_host`, a host it does not know is the first shop's (tests reach the gateway under
    made-up names)."""

    def __init__(self, shops: Iterable[Shop], hosts: dict[str, str] | None = None, any_host: bool = False):
        self._shops = list(shops)
        self._hosts = hosts or {}
        self._any_host = any_host

    @classmethod
    def default_only(cls) -> KnownShops:
        return cls([Shop(DEFAULT_SHOP_ID, "default", "Default shop", "active")], any_host=True)

    async def by_id(self, shop_id: UUID) -> Shop:
        return self._one(lambda shop: shop.id == shop_id, f"no shop {shop_id}")

    async def by_slug(self, slug: str) -> Shop:
        return self._one(lambda shop: shop.slug == slug, f"no shop at /s/{slug}")

    async def by_host(self, host: str) -> Shop | None:
        if host in self._hosts:
            return await self.by_slug(self._hosts[host])
        return self._shops[0] if self._any_host else None

    def forget(self, shop_id: UUID) -> None:
        return None

    def _one(self, match: Callable[[Shop], bool], missing: str) -> Shop:
        for shop in self._shops:
            if match(shop):
                return shop
        raise NotFound(missing)
