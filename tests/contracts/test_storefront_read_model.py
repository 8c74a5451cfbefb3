"""The storefront read model is written by the inventory and read by the gateway: what one writes, the other
reads back as the inventory's product view, one shop's catalog at a time (a shop's read never holds another
shop's product), against the real Redis at REDIS_URL."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
import redis.asyncio as redis
from faka_common.contracts.shops import DEFAULT_SHOP_ID
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
        assert await storefront.products(DEFAULT_SHOP_ID) is None  # not built yet
        await catalog.rebuild([(keyed, Stock(0), 0), (recharge, Stock(None), 0), (off_sale, Stock(0), 0)])
        await stock.publish(keyed.id, Stock(6, 1, 2), 3, in_stock=True)

        items = await storefront.products(DEFAULT_SHOP_ID)
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


async def test_each_shops_read_returns_only_that_shops_products(prefix: str) -> None:
    url = required_env("REDIS_URL", "redis://127.0.0.1:16379/0")
    catalog, storefront = RedisCatalogProjection(url, prefix), RedisStorefront(url, prefix)
    shop_a, shop_b, shop_c = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    try:
        a_one = product(shop_id=shop_a, title="A one", sort_order=1)
        a_two = product(shop_id=shop_a, title="A two", sort_order=2)
        b_one = product(shop_id=shop_b, title="B one", sort_order=0)
        await catalog.rebuild([(a_one, Stock(1), 1), (b_one, Stock(1), 1), (a_two, Stock(1), 1)])
        # written after the rebuild: B's new product, and one of C's (C had none when it was rebuilt)
        b_two = product(shop_id=shop_b, title="B two", sort_order=3)
        c_one = product(shop_id=shop_c, title="C one")
        await catalog.publish(b_two)
        await catalog.publish(c_one)

        read = {shop: await storefront.products(shop) for shop in (shop_a, shop_b, shop_c, DEFAULT_SHOP_ID)}
    finally:
        await catalog.aclose()
        await storefront.aclose()

    titles = {
        shop: None if items is None else [item["title"] for item in items] for shop, items in read.items()
    }
    assert titles == {
        shop_a: ["A one", "A two"],
        shop_b: ["B one", "B two"],
        shop_c: ["C one"],
        DEFAULT_SHOP_ID: None,  # no product of its own in this Redis: not built, the gateway asks inventory
    }
