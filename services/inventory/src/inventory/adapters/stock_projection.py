"""The storefront's copy of stock counts: one Redis hash per product, written after commit from the exact
numbers of a fold; a version field keeps an older fold from overwriting a newer one."""

from __future__ import annotations

import logging
from typing import Protocol
from uuid import UUID

from faka_common.contracts.storefront import stock_key
from redis.asyncio import Redis

from inventory.domain.stock import Stock

log = logging.getLogger(__name__)

# KEYS[1] = the hash; ARGV = version, available, reserved, sold, in_stock
WRITE_IF_NEWER = """
local current = tonumber(redis.call('HGET', KEYS[1], 'version') or '-1')
if tonumber(ARGV[1]) <= current then return 0 end
redis.call('HSET', KEYS[1], 'version', ARGV[1], 'available', ARGV[2], 'reserved', ARGV[3],
           'sold', ARGV[4], 'in_stock', ARGV[5])
return 1
"""


class StockProjection(Protocol):
    async def publish(self, product_id: UUID, stock: Stock, version: int, in_stock: bool) -> None: ...

    async def aclose(self) -> None: ...


def stock_fields(stock: Stock, version: int, in_stock: bool) -> list[str | int]:
    """The script's ARGV for these counts ('' for an uncounted product's available)."""
    available = "" if stock.available is None else str(stock.available)
    return [version, available, stock.reserved, stock.sold, int(in_stock)]


class RedisStockProjection:
    def __init__(self, url: str, prefix: str = "") -> None:
        self._redis = Redis.from_url(url, decode_responses=True)
        self._prefix = prefix
        self._script = self._redis.register_script(WRITE_IF_NEWER)

    async def publish(self, product_id: UUID, stock: Stock, version: int, in_stock: bool) -> None:
        await self._script(
            keys=[stock_key(self._prefix, product_id)], args=stock_fields(stock, version, in_stock)
        )

    async def read(self, product_id: UUID) -> dict[str, str]:
        result = await self._redis.hgetall(stock_key(self._prefix, product_id))
        return {str(k): str(v) for k, v in result.items()}

    async def aclose(self) -> None:
        await self._redis.aclose()


class NoProjection:
    """For tests and tools that do not keep the Redis copy."""

    async def publish(self, product_id: UUID, stock: Stock, version: int, in_stock: bool) -> None:
        return None

    async def aclose(self) -> None:
        return None
