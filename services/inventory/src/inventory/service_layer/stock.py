"""The stock sweeps: the fold of appended stock changes into the per-product totals (the in-stock flags and
low-stock alerts they set, then the Redis stock projection), and the expiry of keys past their batch's
expiry."""

from __future__ import annotations

import logging
from uuid import UUID

from inventory.adapters.stock_projection import StockProjection
from inventory.domain import stock
from inventory.domain.reservations import keyless
from inventory.domain.stock import Stock
from inventory.service_layer.catalog import apply_signals
from inventory.service_layer.unit_of_work import InventoryUnitOfWork

log = logging.getLogger(__name__)


async def fold_stock(uow: InventoryUnitOfWork, projection: StockProjection, limit: int = 10_000) -> int:
    """Add appended stock changes into the per-product totals; flip in-stock flags, announce low stock
    once per crossing, and after commit write the same numbers to the Redis projection."""
    folded = await uow.stock.fold(limit)
    if not folded:
        await uow.commit()
        return 0
    changed = {product_id: (counts, version) for product_id, counts, version in folded}
    published: list[tuple[UUID, Stock, int, bool]] = []
    for product in await uow.products.get_many(list(changed)):
        counts, version = changed[product.id]
        if keyless(product.delivery_type):
            counts = Stock(None, counts.reserved, counts.sold)
        in_stock = await apply_signals(uow, product, counts)
        published.append((product.id, counts, version, in_stock))
    await uow.commit()
    for product_id, counts, version, in_stock in published:
        try:
            await projection.publish(product_id, counts, version, in_stock)
        except Exception as error:  # the next fold of this product writes it again
            log.warning("stock projection of %s not written: %s", product_id, error)
    return len(published)


async def expire_keys(uow: InventoryUnitOfWork, limit: int = 5_000) -> int:
    """Available keys past their batch's expiry leave the pool."""
    expired = await uow.keys.expire_due(limit)
    for shop_id, product_id, count in expired:
        await uow.stock.record(shop_id, product_id, stock.withdrawn(count))
        log.info("%d keys of %s expired", count, product_id)
    await uow.commit()
    return sum(count for _, _, count in expired)
