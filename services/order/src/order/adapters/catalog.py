"""The catalog read model (migration 0016): each product's selling terms as inventory's latest
`ProductChanged` told them, paused and resumed by its `ProductPaused` and `ProductResumed`. A placement reads
them with its shop and price tiers (`ShopRepository.with_price_tiers`); a product it holds no row for is
asked of inventory (`InventoryCatalog`). Inventory's events of one product come in order (keyed by product),
and each `ProductChanged` is the whole product, so the latest one wins."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from faka_common.contracts.inventory import ProductChanged
from faka_common.db.uow import execute
from sqlalchemy.ext.asyncio import AsyncSession

from order.adapters.inventory import Product

_SAVE = (
    "INSERT INTO catalog_products (product_id, shop_id, title, price, currency, active, delivery_type, "
    "category_id, max_per_order, max_per_buyer, face_value, paused) "
    "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) "
    "ON CONFLICT (product_id) DO UPDATE SET shop_id = excluded.shop_id, title = excluded.title, "
    "price = excluded.price, currency = excluded.currency, active = excluded.active, "
    "delivery_type = excluded.delivery_type, category_id = excluded.category_id, "
    "max_per_order = excluded.max_per_order, max_per_buyer = excluded.max_per_buyer, "
    "face_value = excluded.face_value, paused = excluded.paused, updated_at = now()"
)
_PAUSE = "UPDATE catalog_products SET paused = $2, updated_at = now() WHERE product_id = $1"
_FORGET = "DELETE FROM catalog_products WHERE product_id = $1"

#: What a `ProductChanged` must carry to stand for the product: events from before the read model left out
#: its face value and pause, so such an event removes the row instead (the product is asked of inventory).
WHOLE = frozenset({"face_value", "paused"})


def product_of_row(product_id: UUID, terms: Sequence[Any]) -> Product | None:
    """The product from its row's title, price, currency, active, delivery_type, category_id, max_per_order,
    max_per_buyer, face_value and paused, read by a LEFT JOIN: None when the read model holds no row."""
    title, price, currency, active, delivery_type, category_id, most, most_per_buyer, face_value, paused = (
        terms
    )
    if title is None:
        return None
    return Product(
        product_id, title, price, currency, active, delivery_type, category_id, most, most_per_buyer,
        face_value, paused,
    )  # fmt: skip


class CatalogRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def changed(self, event: ProductChanged) -> None:
        """Keep the product as the event tells it, or forget it when the event does not tell all (`WHOLE`)."""
        if not event.model_fields_set >= WHOLE:
            await execute(self._session, _FORGET, event.product_id)
            return
        await execute(
            self._session, _SAVE, event.product_id, event.shop_id, event.title, event.price, event.currency,
            event.active, event.delivery_type, event.category_id, event.max_per_order, event.max_per_buyer,
            event.face_value, event.paused,
        )  # fmt: skip

    async def paused(self, product_id: UUID, paused: bool) -> None:
        """The product was taken off sale (or put back) by its after-sales rate; a product not held stays
        unheld (it is asked of inventory, which knows)."""
        await execute(self._session, _PAUSE, product_id, paused)
