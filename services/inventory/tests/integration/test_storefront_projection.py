"""The storefront read model against the real Postgres and Redis: create / edit / hide write the catalog
entry and its shop's index after commit, an older version never overwrites a newer one, a failed write marks
the model stale, each shop's products land in that shop's index only, and a rebuild from Postgres restores
a flushed Redis (every shop's index, each marked built) with the exact folded stock. Needs DATABASE_URL (a
server URL) and REDIS_URL; each run creates and drops its own database and uses its own key prefix."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis.asyncio as redis
from faka_common.contracts.shops import DEFAULT_SHOP_ID
from faka_common.contracts.storefront import (
    catalog_built_key,
    catalog_index_key,
    catalog_key,
    catalog_rebuilt_key,
    stock_key,
)
from faka_common.crypto import DEV_FINGERPRINT_SECRET, DEV_KEYRING, KeyRing
from faka_common.db.uow import SessionFactory
from faka_common.testing import required_env
from inventory.adapters.catalog_projection import RedisCatalogProjection
from inventory.adapters.stock_projection import RedisStockProjection
from inventory.domain.model import Product
from inventory.service_layer import catalog as catalog_ops
from inventory.service_layer import key_pools
from inventory.service_layer import stock as stock_ops
from inventory.service_layer.unit_of_work import InventoryUnitOfWork

pytestmark = pytest.mark.integration

KEYRING = KeyRing.parse(DEV_KEYRING, DEV_FINGERPRINT_SECRET)
LOOP_KEY = "LOOP-SECRET-0000-1111"


@pytest.fixture
def prefix() -> str:
    return f"t{uuid.uuid4().hex}."


@pytest.fixture
async def raw(prefix: str) -> AsyncIterator[redis.Redis]:
    client = redis.Redis.from_url(
        required_env("REDIS_URL", "redis://127.0.0.1:16379/0"), decode_responses=True
    )
    try:
        yield client
    finally:
        keys = [key async for key in client.scan_iter(match=f"{prefix}*")]
        if keys:
            await client.delete(*keys)
        await client.aclose()


@pytest.fixture
async def catalog(prefix: str) -> AsyncIterator[RedisCatalogProjection]:
    projection = RedisCatalogProjection(required_env("REDIS_URL", "redis://127.0.0.1:16379/0"), prefix=prefix)
    try:
        yield projection
    finally:
        await projection.aclose()


async def create(
    sessions: SessionFactory,
    catalog: RedisCatalogProjection,
    shop: uuid.UUID = DEFAULT_SHOP_ID,
    **fields: Any,
) -> Product:
    new = {"title": "Steam 50", "price": 4800, "currency": "CNY", "delivery_type": "card_key", **fields}
    async with InventoryUnitOfWork(sessions) as uow:
        product, _ = await catalog_ops.create_product(
            shop, catalog_ops.NewProduct(**new), uow, KEYRING, catalog
        )
    return product


async def patch(
    sessions: SessionFactory,
    catalog: RedisCatalogProjection,
    product_id: uuid.UUID,
    shop: uuid.UUID = DEFAULT_SHOP_ID,
    **changes: Any,
) -> Product:
    async with InventoryUnitOfWork(sessions) as uow:
        product, _ = await catalog_ops.update_product(shop, product_id, changes, uow, catalog)
    return product


async def test_create_edit_and_hide_keep_the_storefront_entry_and_index_current(
    sessions: SessionFactory, catalog: RedisCatalogProjection, raw: redis.Redis, prefix: str
) -> None:
    index = catalog_index_key(prefix, DEFAULT_SHOP_ID)
    product = await create(sessions, catalog, description="Redeem on Steam", max_per_order=5, sort_order=3)
    loop = await create(sessions, catalog, delivery_type="loop_key", loop_key=LOOP_KEY, sort_order=1)

    assert await catalog.read(product.id) == {
        "version": "0",
        "title": "Steam 50",
        "description": "Redeem on Steam",
        "price": "4800",
        "currency": "CNY",
        "delivery_type": "card_key",
        "category_id": "",
        "sort_order": "3",
        "max_per_order": "5",
        "max_per_buyer": "",
        "usage_instructions": "",
        "hide_when_sold_out": "0",
        "variant_of": "",
        "variant_label": "",
    }
    assert await raw.zrange(index, 0, -1, withscores=True) == [(str(loop.id), 1.0), (str(product.id), 3.0)]
    # a new product's stock is "nothing counted yet": zero keys, or uncounted for a loop key
    assert await raw.hgetall(stock_key(prefix, product.id)) == {
        "version": "0", "available": "0", "reserved": "0", "sold": "0", "in_stock": "0",
    }  # fmt: skip
    assert (await raw.hgetall(stock_key(prefix, loop.id)))["in_stock"] == "1"
    loop_entry = await catalog.read(loop.id)
    assert LOOP_KEY not in loop_entry.values() and "loop_key" not in loop_entry

    edited = await patch(sessions, catalog, product.id, price=5200, sort_order=0, hide_when_sold_out=True)
    entry = await catalog.read(product.id)
    assert (entry["version"], entry["price"], entry["hide_when_sold_out"]) == (
        str(edited.version),
        "5200",
        "1",
    )
    assert edited.version > 0
    assert await raw.zrange(index, 0, -1) == [str(product.id), str(loop.id)]

    hidden = await patch(sessions, catalog, product.id, visible=False)
    assert await catalog.read(product.id) == {"version": str(hidden.version)}
    assert await raw.zrange(index, 0, -1) == [str(loop.id)]

    await patch(sessions, catalog, product.id, visible=True, active=False)
    assert str(product.id) not in await raw.zrange(index, 0, -1)
    back = await patch(sessions, catalog, product.id, active=True)
    assert (await catalog.read(product.id))["version"] == str(back.version)
    assert await raw.zrange(index, 0, -1) == [str(product.id), str(loop.id)]


async def test_an_older_write_never_overwrites_a_newer_one(
    sessions: SessionFactory, catalog: RedisCatalogProjection, raw: redis.Redis, prefix: str
) -> None:
    original = await create(sessions, catalog, title="Old title")
    renamed = await patch(sessions, catalog, original.id, title="New title")
    hidden = await patch(sessions, catalog, original.id, visible=False)
    assert original.version < renamed.version < hidden.version

    # the writes of earlier commits arrive late (a slow request, a rebuild that read Postgres earlier)
    await catalog.publish(renamed)
    await catalog.publish(original)
    assert await catalog.read(original.id) == {"version": str(hidden.version)}
    assert str(original.id) not in await raw.zrange(catalog_index_key(prefix, DEFAULT_SHOP_ID), 0, -1)

    shown = await patch(sessions, catalog, original.id, visible=True)
    await catalog.publish(dataclasses.replace(renamed, title="Stale"))
    entry = await catalog.read(original.id)
    assert (entry["version"], entry["title"]) == (str(shown.version), "New title")


async def test_a_failed_write_keeps_the_product_and_marks_the_read_model_stale(
    sessions: SessionFactory,
) -> None:
    unreachable = RedisCatalogProjection("redis://127.0.0.1:1/0", prefix="unused.")
    try:
        product = await create(sessions, unreachable, title="Written while Redis is down")
        assert await unreachable.stale()
    finally:
        await unreachable.aclose()
    async with InventoryUnitOfWork(sessions) as uow:
        stored, _ = await catalog_ops.get_product(DEFAULT_SHOP_ID, product.id, uow)
    assert stored.title == "Written while Redis is down"


async def test_rebuild_restores_a_flushed_read_model_with_the_folded_stock(
    sessions: SessionFactory, catalog: RedisCatalogProjection, raw: redis.Redis, prefix: str
) -> None:
    url = required_env("REDIS_URL", "redis://127.0.0.1:16379/0")
    stock = RedisStockProjection(url, prefix=prefix)
    try:
        on_sale = await create(sessions, catalog, title="On sale", sort_order=-5)
        hidden = await create(sessions, catalog, title="Hidden", visible=False, sort_order=-4)
        async with InventoryUnitOfWork(sessions) as uow:
            await key_pools.import_keys(DEFAULT_SHOP_ID, on_sale.id, "A-1\nA-2\nA-3", uow, KEYRING)
        async with InventoryUnitOfWork(sessions) as uow:
            await stock_ops.fold_stock(uow, stock)
        before = await stock.read(on_sale.id)
        assert (before["available"], before["in_stock"]) == ("3", "1")
        await catalog_rebuilt(sessions, catalog)
        assert not await catalog.stale()

        flushed = [key async for key in raw.scan_iter(match=f"{prefix}*")]
        await raw.delete(*flushed)
        assert await catalog.stale()

        await catalog_rebuilt(sessions, catalog)
        assert not await catalog.stale() and await raw.exists(catalog_built_key(prefix, DEFAULT_SHOP_ID))
        assert await stock.read(on_sale.id) == before
        assert (await catalog.read(on_sale.id))["title"] == "On sale"
        assert await raw.hgetall(catalog_key(prefix, hidden.id)) == {"version": str(hidden.version)}
        members = await raw.zrange(catalog_index_key(prefix, DEFAULT_SHOP_ID), 0, -1)
        assert str(on_sale.id) == members[0] and str(hidden.id) not in members
    finally:
        await stock.aclose()


async def catalog_rebuilt(sessions: SessionFactory, catalog: RedisCatalogProjection) -> None:
    async with InventoryUnitOfWork(sessions) as uow:
        assert await catalog_ops.rebuild_storefront(uow, catalog) >= 2


async def members(raw: redis.Redis, prefix: str, shop: uuid.UUID) -> list[str]:
    """The ids in the shop's storefront index, in storefront order."""
    return [str(member) for member in await raw.zrange(catalog_index_key(prefix, shop), 0, -1)]


async def test_each_shops_products_land_in_its_own_index_and_in_no_other(
    sessions: SessionFactory, catalog: RedisCatalogProjection, raw: redis.Redis, prefix: str
) -> None:
    shop_a, shop_b = uuid.uuid4(), uuid.uuid4()
    a_first = await create(sessions, catalog, shop_a, title="A first", sort_order=2)
    # nothing rebuilt in this Redis yet (as after a flush): a write does not mark its shop built
    assert await members(raw, prefix, shop_a) == [str(a_first.id)]
    assert not await raw.exists(catalog_built_key(prefix, shop_a))
    await catalog_rebuilt(sessions, catalog)
    assert await raw.exists(catalog_built_key(prefix, shop_a))
    assert not await raw.exists(catalog_built_key(prefix, shop_b))  # no product yet: the inventory answers

    a_second = await create(sessions, catalog, shop_a, title="A second", sort_order=1)
    b_one = await create(sessions, catalog, shop_b, title="B one", sort_order=0)
    b_two = await create(sessions, catalog, shop_b, title="B two", sort_order=1)
    b_hidden = await create(sessions, catalog, shop_b, title="B hidden", visible=False)
    # B had no product when the rebuild read Postgres: its first write after it marks its index built
    assert await raw.exists(catalog_built_key(prefix, shop_b))
    assert await members(raw, prefix, shop_a) == [str(a_second.id), str(a_first.id)]
    assert await members(raw, prefix, shop_b) == [str(b_one.id), str(b_two.id)]

    # an edit reorders its own shop's index only; taking a product off sale takes it out of its shop's
    await patch(sessions, catalog, b_one.id, shop_b, sort_order=5)
    await patch(sessions, catalog, b_hidden.id, shop_b, visible=True, sort_order=-1)
    await patch(sessions, catalog, a_first.id, shop_a, active=False)
    assert await members(raw, prefix, shop_a) == [str(a_second.id)]
    assert await members(raw, prefix, shop_b) == [str(b_hidden.id), str(b_two.id), str(b_one.id)]
    shops_products = {str(p.id) for p in (a_first, a_second, b_one, b_two, b_hidden)}
    assert not shops_products & set(await members(raw, prefix, DEFAULT_SHOP_ID))


async def test_a_rebuild_after_a_flush_restores_every_shops_index_and_marks_each_built(
    sessions: SessionFactory, catalog: RedisCatalogProjection, raw: redis.Redis, prefix: str
) -> None:
    shop_a, shop_b = uuid.uuid4(), uuid.uuid4()
    a = await create(sessions, catalog, shop_a, title="A", sort_order=1)
    b_off = await create(sessions, catalog, shop_b, title="B off sale", active=False, sort_order=0)
    b = await create(sessions, catalog, shop_b, title="B", sort_order=2)
    await catalog_rebuilt(sessions, catalog)
    indexes = {shop_a: [str(a.id)], shop_b: [str(b.id)]}
    assert {shop: await members(raw, prefix, shop) for shop in indexes} == indexes

    await raw.delete(*[key async for key in raw.scan_iter(match=f"{prefix}*")])
    assert await catalog.stale()
    # what an inventory before shops left: one index of every shop's products, marked built
    one_catalog = (f"{prefix}inventory:catalog", f"{prefix}inventory:catalog-built")
    await raw.zadd(one_catalog[0], {str(a.id): 1, str(b.id): 2})
    await raw.set(one_catalog[1], "2026-01-01T00:00:00+00:00")

    await catalog_rebuilt(sessions, catalog)
    assert not await catalog.stale() and await raw.exists(catalog_rebuilt_key(prefix))
    assert await raw.exists(catalog_built_key(prefix, shop_a), catalog_built_key(prefix, shop_b)) == 2
    assert {shop: await members(raw, prefix, shop) for shop in indexes} == indexes
    assert (await catalog.read(b.id))["title"] == "B"
    assert await catalog.read(b_off.id) == {"version": str(b_off.version)}
    assert await raw.exists(*one_catalog) == 0  # a gateway still reading it asks the inventory instead
