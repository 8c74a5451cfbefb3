"""The storefront's copy of the catalog (layout: faka_common.contracts.storefront): the public fields of
every product on sale and, per shop, an index by sort_order holding only that shop's products, written
after commit wherever ProductChanged is published. The product's row version guards every write, so an
older write never overwrites a newer one; a product taken off sale leaves a tombstone holding its version.
A rebuild from Postgres restores a flushed Redis: every shop's index, each marked built."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Protocol
from uuid import UUID

from faka_common.contracts.storefront import (
    catalog_built_key,
    catalog_index_key,
    catalog_key,
    catalog_rebuilt_key,
    stock_key,
)
from redis.asyncio import Redis

from inventory.adapters.stock_projection import WRITE_IF_NEWER, stock_fields
from inventory.domain.model import Product
from inventory.domain.reservations import keyless
from inventory.domain.stock import Stock

log = logging.getLogger(__name__)

# KEYS = catalog hash, its shop's index, stock hash, its shop's built marker, the rebuilt marker;
# ARGV = version, product id, sort_order, on sale ('1'/'0'), available and in_stock of a stock hash not
# written yet, the time, then the public fields as name/value pairs.
# A product's first stock hash is written here (version 0: any fold or rebuild supersedes it), so a new
# product is listed with its true "nothing counted yet" state instead of no stock at all.
# While the rebuilt marker stands (no flush since a rebuild of every shop), a shop not marked built had no
# product when the rebuild read Postgres: its index is whatever was written since, so the write marks it.
_WRITE_IF_NEWER = """
if redis.call('EXISTS', KEYS[5]) == 1 then redis.call('SET', KEYS[4], ARGV[7], 'NX') end
local current = tonumber(redis.call('HGET', KEYS[1], 'version') or '-1')
if tonumber(ARGV[1]) <= current then return 0 end
redis.call('DEL', KEYS[1])
if ARGV[4] == '1' then
  redis.call('HSET', KEYS[1], 'version', ARGV[1], unpack(ARGV, 8))
  redis.call('ZADD', KEYS[2], ARGV[3], ARGV[2])
else
  redis.call('HSET', KEYS[1], 'version', ARGV[1])
  redis.call('ZREM', KEYS[2], ARGV[2])
end
if redis.call('EXISTS', KEYS[3]) == 0 then
  redis.call('HSET', KEYS[3], 'version', '0', 'available', ARGV[5], 'reserved', '0', 'sold', '0',
             'in_stock', ARGV[6])
end
return 1
"""

REBUILD_CHUNK = 500  # products per pipelined round trip during a rebuild


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _one_catalog_keys(prefix: str) -> tuple[str, str]:
    """The index and built marker of the layout before shops (one catalog for every shop's products)."""
    return f"{prefix}inventory:catalog", f"{prefix}inventory:catalog-built"


def on_sale(product: Product) -> bool:
    return product.active and product.visible


def public_fields(product: Product) -> dict[str, str]:
    """What a buyer may see of the product; never its loop key, threshold or issue order."""
    values: dict[str, object] = {
        "title": product.title,
        "description": product.description,
        "price": product.price,
        "currency": product.currency,
        "delivery_type": product.delivery_type,
        "category_id": product.category_id,
        "sort_order": product.sort_order,
        "max_per_order": product.max_per_order,
        "max_per_buyer": product.max_per_buyer,
        "usage_instructions": product.usage_instructions,
        "hide_when_sold_out": int(product.hide_when_sold_out),
        "variant_of": product.variant_of,
        "variant_label": product.variant_label,
    }
    return {name: "" if value is None else str(value) for name, value in values.items()}


class CatalogProjection(Protocol):
    async def publish(self, product: Product) -> None: ...

    def begin_rebuild(self) -> None:
        """Forget missed writes: the rebuild about to read Postgres covers them."""

    async def rebuild(self, entries: Sequence[tuple[Product, Stock, int]]) -> None: ...

    async def stale(self) -> bool:
        """True when the read model needs a rebuild: never built (a flushed Redis) or a write was missed."""

    async def aclose(self) -> None: ...


class RedisCatalogProjection:
    def __init__(self, url: str, prefix: str = "") -> None:
        self._redis = Redis.from_url(url, decode_responses=True)
        self._prefix = prefix
        self._catalog = self._redis.register_script(_WRITE_IF_NEWER)
        self._stock = self._redis.register_script(WRITE_IF_NEWER)
        self._missed = False

    def _args(self, product: Product) -> tuple[list[str], list[str | int]]:
        counted = not keyless(product.delivery_type)
        keys = [
            catalog_key(self._prefix, product.id),
            catalog_index_key(self._prefix, product.shop_id),
            stock_key(self._prefix, product.id),
            catalog_built_key(self._prefix, product.shop_id),
            catalog_rebuilt_key(self._prefix),
        ]
        args: list[str | int] = [
            product.version,
            str(product.id),
            product.sort_order,
            int(on_sale(product)),
            "0" if counted else "",
            int(not counted),
            _now(),
        ]
        for name, value in public_fields(product).items():
            args += [name, value]
        return keys, args

    async def publish(self, product: Product) -> None:
        keys, args = self._args(product)
        try:
            await self._catalog(keys=keys, args=args)
        except BaseException:
            self._missed = True
            raise

    def begin_rebuild(self) -> None:
        self._missed = False

    async def rebuild(self, entries: Sequence[tuple[Product, Stock, int]]) -> None:
        """Write every product (into its shop's index) and its folded stock (version-guarded: a newer write
        is kept), then mark each of their shops built and the whole rebuilt. Products are never deleted nor
        moved to another shop, so every entry of a shop's index belongs to one of that shop's `entries`."""
        try:
            for start in range(0, len(entries), REBUILD_CHUNK):
                async with self._redis.pipeline(transaction=False) as pipe:
                    for product, stock, version in entries[start : start + REBUILD_CHUNK]:
                        keys, args = self._args(product)
                        await self._catalog(keys=keys, args=args, client=pipe)
                        in_stock = stock.available is None or stock.available > 0
                        await self._stock(
                            keys=[stock_key(self._prefix, product.id)],
                            args=stock_fields(stock, version, in_stock),
                            client=pipe,
                        )
                    await pipe.execute()
            await self._mark_built({product.shop_id for product, _, _ in entries})
        except BaseException:
            self._missed = True
            raise

    async def _mark_built(self, shops: set[UUID]) -> None:
        """Mark these shops' indexes built and the rebuild complete; drop the one-catalog layout's index
        and marker (before shops), so a gateway still reading them asks the inventory instead."""
        now = _now()
        async with self._redis.pipeline(transaction=True) as pipe:
            for shop_id in sorted(shops):
                pipe.set(catalog_built_key(self._prefix, shop_id), now)
            pipe.set(catalog_rebuilt_key(self._prefix), now)
            pipe.delete(*_one_catalog_keys(self._prefix))
            await pipe.execute()

    async def stale(self) -> bool:
        return self._missed or not await self._redis.exists(catalog_rebuilt_key(self._prefix))

    async def read(self, product_id: UUID) -> dict[str, str]:
        result = await self._redis.hgetall(catalog_key(self._prefix, product_id))
        return {str(k): str(v) for k, v in result.items()}

    async def aclose(self) -> None:
        await self._redis.aclose()


class NoCatalogProjection:
    """For tests and tools that do not keep the Redis copy."""

    async def publish(self, product: Product) -> None:
        return None

    def begin_rebuild(self) -> None:
        return None

    async def rebuild(self, entries: Sequence[tuple[Product, Stock, int]]) -> None:
        return None

    async def stale(self) -> bool:
        return False

    async def aclose(self) -> None:
        return None
