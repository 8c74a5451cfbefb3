"""The storefront read model the inventory keeps in Redis (layout: faka_common.contracts.storefront), one
catalog per shop, read in one round trip: a script returns the shop's index of products on sale with each
one's catalog and stock hash. The answer is shaped like the inventory's product view, so both sources go
through the same view."""

from __future__ import annotations

from typing import Any, Protocol
from uuid import UUID

from faka_common.contracts.storefront import (
    catalog_built_key,
    catalog_index_key,
    catalog_key,
    stock_key,
)
from redis.asyncio import Redis
from redis.exceptions import RedisError

# KEYS = the shop's built marker, the shop's index; ARGV = catalog key prefix, stock key prefix. It reads
# the entries' hashes by name (keys not passed in KEYS): fine on one Redis, not on a Redis Cluster. nil: the
# shop's model is not built.
_READ = """
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
local entries = {}
for _, id in ipairs(redis.call('ZRANGE', KEYS[2], 0, -1)) do
  entries[#entries + 1] = {id, redis.call('HGETALL', ARGV[1] .. id), redis.call('HGETALL', ARGV[2] .. id)}
end
return entries
"""


class StorefrontUnavailable(Exception):
    """The read model could not be read (Redis unreachable, slow, or an entry not understood)."""


class Storefront(Protocol):
    async def products(self, shop_id: UUID) -> list[dict[str, Any]] | None:
        """The shop's products on sale in storefront order; None when the shop's read model is not built
        (ask the owner)."""

    async def aclose(self) -> None: ...


def _pairs(flat: list[str]) -> dict[str, str]:
    return dict(zip(flat[::2], flat[1::2], strict=True))


def _optional_int(value: str) -> int | None:
    return None if value == "" else int(value)


def product_view(product_id: str, entry: dict[str, str], stock: dict[str, str]) -> dict[str, Any]:
    """An entry as the inventory's product view (on sale: active and visible)."""
    available = _optional_int(stock.get("available", "0"))
    return {
        "product_id": product_id,
        "title": entry["title"],
        "description": entry["description"],
        "price": int(entry["price"]),
        "currency": entry["currency"],
        "delivery_type": entry["delivery_type"],
        "category_id": entry["category_id"] or None,
        "sort_order": int(entry["sort_order"]),
        "max_per_order": _optional_int(entry["max_per_order"]),
        "max_per_buyer": _optional_int(entry["max_per_buyer"]),
        "usage_instructions": entry["usage_instructions"],
        "hide_when_sold_out": entry["hide_when_sold_out"] == "1",
        "variant_of": entry.get("variant_of") or None,
        "variant_label": entry.get("variant_label") or None,
        "active": True,
        "visible": True,
        "in_stock": stock.get("in_stock") == "1",
        "stock": {
            "available": available,
            "reserved": int(stock.get("reserved", "0")),
            "sold": int(stock.get("sold", "0")),
        },
    }


class RedisStorefront:
    def __init__(self, url: str, prefix: str = "", timeout: float = 0.5) -> None:
        self._redis = Redis.from_url(
            url, decode_responses=True, socket_timeout=timeout, socket_connect_timeout=timeout
        )
        self._prefix = prefix
        self._read = self._redis.register_script(_READ)

    async def products(self, shop_id: UUID) -> list[dict[str, Any]] | None:
        prefix = self._prefix
        try:
            rows = await self._read(
                keys=[catalog_built_key(prefix, shop_id), catalog_index_key(prefix, shop_id)],
                args=[catalog_key(prefix, ""), stock_key(prefix, "")],
            )
            if rows is None:
                return None
            return [product_view(pid, _pairs(entry), _pairs(stock)) for pid, entry, stock in rows]
        except (RedisError, OSError) as error:
            raise StorefrontUnavailable(f"{type(error).__name__}: {error}") from error
        except (KeyError, ValueError, TypeError) as error:
            raise StorefrontUnavailable(f"an entry is not understood: {error!r}") from error

    async def aclose(self) -> None:
        await self._redis.aclose()
