"""Inventory's metrics: low stock once per crossing of a product's threshold, when the fold that finds it
commits, and the products low now; a reported key replaced or refused with the reason. Real PostgreSQL and
Redis."""

from __future__ import annotations

import uuid

import pytest
from faka_common.contracts.shops import DEFAULT_SHOP_ID
from faka_common.db.uow import SessionFactory
from faka_common.metrics import shop_label
from faka_common.testing import required_env
from inventory.adapters.metrics import sample_low_stock
from inventory.adapters.stock_projection import RedisStockProjection
from inventory.service_layer import replacements, reservations, stock
from inventory.service_layer.unit_of_work import InventoryUnitOfWork
from prometheus_client import REGISTRY

from .test_inventory_at_scale import approved, card_product, run
from .test_key_replacement import claim, revealed, sold_order

pytestmark = pytest.mark.integration

#: the label as the metrics write it (taken at collection: the default shop keeps its own past 500 shops)
SHOP = shop_label(DEFAULT_SHOP_ID)


def low_stock_alerts() -> float:
    return REGISTRY.get_sample_value("faka_low_stock_alerts_total", {"shop": SHOP}) or 0.0


async def test_stock_falling_to_the_threshold_counts_one_alert_and_one_low_product(
    sessions: SessionFactory,
) -> None:
    projection = RedisStockProjection(
        required_env("REDIS_URL", "redis://127.0.0.1:16379/0"), prefix=f"t{uuid.uuid4().hex}."
    )
    product_id = await card_product(sessions, [f"M-{i}" for i in range(4)], low_stock_threshold=2)

    async def fold() -> None:
        async with InventoryUnitOfWork(sessions) as uow:
            await stock.fold_stock(uow, projection)

    try:
        await fold()
        before = low_stock_alerts()
        for buyer in [approved(product_id) for _ in range(3)]:
            await run(sessions, buyer, reservations.reserve_stock)
            await fold()
        assert low_stock_alerts() - before == 1
        assert await sample_low_stock(sessions) == 1
        assert REGISTRY.get_sample_value("faka_low_stock_products", {"shop": SHOP}) == 1
    finally:
        await projection.aclose()


def replacements_counted(outcome: str, reason: str) -> float:
    labels = {"outcome": outcome, "reason": reason}
    return REGISTRY.get_sample_value("faka_key_replacements_total", labels) or 0.0


async def test_a_replaced_key_and_a_refused_one_are_counted_with_the_refusals_reason(
    sessions: SessionFactory,
) -> None:
    product_id = await card_product(sessions, [f"R-{i}-{uuid.uuid4().hex[:8]}" for i in range(2)])
    order_id = await sold_order(sessions, product_id)
    [key_id] = await revealed(sessions, order_id)
    before = [replacements_counted("replaced", ""), replacements_counted("refused", "already_replaced")]
    for _ in range(2):  # the second claim of the same key is refused
        await run(sessions, claim(order_id, product_id, key_id), replacements.replace_delivered_key)
    after = [replacements_counted("replaced", ""), replacements_counted("refused", "already_replaced")]
    assert [a - b for a, b in zip(after, before, strict=True)] == [1, 1]
