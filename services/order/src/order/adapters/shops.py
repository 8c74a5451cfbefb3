"""The shops read model (migration 0010; faka_common.db.shops): each shop, by its id, as its latest
ShopChanged told it. Order keeps no contact."""

from __future__ import annotations

from uuid import UUID

from faka_common.contracts.shops import KnownShop
from faka_common.db import shops as read_model
from faka_common.db.uow import fetch_row
from sqlalchemy.ext.asyncio import AsyncSession

from order.adapters import catalog
from order.adapters.inventory import Product
from order.adapters.tables import metadata
from order.domain.pricing import PriceTier

shops = read_model.shops_table(metadata, contact=False)

#: What placing an order reads in its transaction, in one statement: the shop as last told (NULLs: not yet),
#: the product's price tiers by their least quantity, and its selling terms as the catalog read model holds
#: them (NULLs: not held, or another shop's).
_SHOP_AND_TIERS = (
    "SELECT s.slug, s.name, s.status, "
    "array(SELECT t.min_quantity FROM order_price_tiers t WHERE t.shop_id = $1 AND t.product_id = $2 "
    "ORDER BY t.min_quantity) AS quantities, "
    "array(SELECT t.unit_price FROM order_price_tiers t WHERE t.shop_id = $1 AND t.product_id = $2 "
    "ORDER BY t.min_quantity) AS prices, "
    "p.title, p.price, p.currency, p.active, p.delivery_type, p.category_id, p.max_per_order, "
    "p.max_per_buyer, p.face_value, p.paused "  # catalog.product_of_row's terms
    "FROM (SELECT $1::uuid AS id) AS wanted LEFT JOIN shops s ON s.id = wanted.id "
    "LEFT JOIN catalog_products p ON p.product_id = $2 AND p.shop_id = $1"
)


class ShopRepository(read_model.ShopRepository):
    def __init__(self, session: AsyncSession) -> None:
        super().__init__(session, shops)

    async def with_price_tiers(
        self, shop_id: UUID, product_id: UUID
    ) -> tuple[KnownShop | None, list[PriceTier], Product | None]:
        """`get`, the shop's price tiers of the product (`PriceTierRepository.for_product`) and the product as
        the catalog read model holds it (None: not held), in one round trip: what every order placed reads."""
        row = await fetch_row(self._session, _SHOP_AND_TIERS, shop_id, product_id)
        assert row is not None, "a SELECT from one row has one row"
        slug, name, status, quantities, prices, *terms = row
        shop = None if slug is None else KnownShop(shop_id, slug, name, status)
        tiers = [PriceTier(q, p) for q, p in zip(quantities, prices, strict=True)]
        return shop, tiers, catalog.product_of_row(product_id, terms)
