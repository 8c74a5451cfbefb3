"""The storefront read model is written by the inventory and read by the gateway: what one writes, the other
reads back as the inventory's product view, against the real Redis at REDIS_URL."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
import redis.asyncio as redis
from faka_common.testing import required_env
from gateway.adapters.storefront import RedisStorefront
from inventory.adapters.catalog_projection import RedisCatalogProjection
from inventory.adapters.stock_projection import RedisStockProjection
from inventory.domain.model import Product
from inventory.domain.stock import Stock
from uuid6 import uuid7

pytestmark = pytest.mark.integration


@pytest.fixture
async def prefix() -> AsyncIterator[str]:
    url = required_env("REDIS_URL", "redis://127.0.0.1:16379/0")
    namespace = f"contract-{uuid.uuid4().hex[:10]}."
    yield namespace
    connection = redis.Redis.from_url(url)
    keys = [key async for key in connection.scan_iter(match=f"{namespace}*")]
    if keys:
        await connection.delete(*keys)
    await connection.aclose()


def product(**fields: object) -> Product:
    base: dict[str, object] = {
        "id": uuid7(),
        "title": "Steam 50",
        "description": "Redeem on Steam",
        "price": 4800,
        "currency": "CNY",
        "delivery_type": "card_key",
        "usage_instructions": "Steam > Redeem",
        "active": True,
        "created_at": datetime.now(UTC),
        "category_id": uuid7(),
        "max_per_order": 3,
        "sort_order": 2,
        "version": 4,
    }
    return Product(**{**base, **fields})


async def test_the_gateway_reads_what_the_inventory_projects(prefix: str) -> None:
    url = required_env("REDIS_URL", "redis://127.0.0.1:16379/0")
    catalog, stock = RedisCatalogProjection(url, prefix), RedisStockProjection(url, prefix)
    storefront = RedisStorefront(url, prefix)
    try:
        keyed = product()
        recharge = product(
            delivery_type="recharge", sort_order=1, hide_when_sold_out=True, category_id=None,
            variant_of=keyed.id, variant_label="¥100",
        )  # fmt: skip
        off_sale = product(visible=False)
        assert await storefront.products() is None  # not built yet
        await catalog.rebuild([(keyed, Stock(0), 0), (recharge, Stock(None), 0), (off_sale, Stock(0), 0)])
        await stock.publish(keyed.id, Stock(6, 1, 2), 3, in_stock=True)

        items = await storefront.products()
    finally:
        await catalog.aclose()
        await stock.aclose()
        await storefront.aclose()

    assert items is not None
    assert [item["product_id"] for item in items] == [str(recharge.id), str(keyed.id)]
    assert items[1] == {
        "product_id": str(keyed.id),
        "title": "Steam 50",
        "description": "Redeem on Steam",
        "price": 4800,
        "currency": "CNY",
        "delivery_type": "card_key",
        "category_id": str(keyed.category_id),
        "sort_order": 2,
        "max_per_order": 3,
        "max_per_buyer": None,
        "usage_instructions": "Steam > Redeem",
        "hide_when_sold_out": False,
        "variant_of": None,
        "variant_label": None,
        "active": True,
        "visible": True,
        "in_stock": True,
        "stock": {"available": 6, "reserved": 1, "sold": 2},
    }
    assert items[0]["stock"] == {"available": None, "reserved": 0, "sold": 0}
    assert (items[0]["in_stock"], items[0]["hide_when_sold_out"], items[0]["category_id"]) == (
        True,
        True,
        None,
    )
    assert (items[0]["variant_of"], items[0]["variant_label"]) == (str(keyed.id), "¥100")
