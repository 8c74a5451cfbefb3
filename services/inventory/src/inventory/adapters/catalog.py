"""The catalog's repositories: a shop's categories, and its products (their hot-path reads compiled once)
with the row mapper a key reveal reads its product through too."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from faka_common.crypto import Sealed
from faka_common.db.statements import Compiled, mapping
from sqlalchemy import bindparam, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncSession

from inventory.adapters.tables import categories, products, stock_counts
from inventory.domain.model import Category, Product
from inventory.domain.stock import IssueOrder


def product_of(found: Any) -> Product:
    """The product of a row (`mapping`)."""
    row = mapping(found)
    loop_key = None
    if row["loop_key_sealed"] is not None and row["loop_key_key_id"] is not None:
        loop_key = Sealed(row["loop_key_key_id"], bytes(row["loop_key_sealed"]))
    return Product(
        id=row["id"],
        shop_id=row["shop_id"],
        title=row["title"],
        description=row["description"],
        price=row["price"],
        currency=row["currency"],
        delivery_type=row["delivery_type"],
        usage_instructions=row["usage_instructions"],
        active=row["active"],
        created_at=row["created_at"],
        loop_key=loop_key,
        category_id=row["category_id"],
        max_per_order=row["max_per_order"],
        max_per_buyer=row["max_per_buyer"],
        visible=row["visible"],
        sort_order=row["sort_order"],
        issue_order=IssueOrder(row["issue_order"]),
        low_stock_threshold=row["low_stock_threshold"],
        low_stock_alerted=row["low_stock_alerted"],
        in_stock=row["in_stock"],
        face_value=row["face_value"],
        hide_when_sold_out=row["hide_when_sold_out"],
        version=row["version"],
        variant_of=row["variant_of"],
        variant_label=row["variant_label"],
        replacement_window_hours=row["replacement_window_hours"],
        replacements_per_order=row["replacements_per_order"],
        replacement_evidence_required=row["replacement_evidence_required"],
        paused_at=row["paused_at"],
        paused_reason=row["paused_reason"],
        resumed_at=row["resumed_at"],
    )


def _product_values(product: Product) -> dict[str, Any]:
    return {
        "title": product.title,
        "description": product.description,
        "price": product.price,
        "currency": product.currency,
        "usage_instructions": product.usage_instructions,
        "active": product.active,
        "category_id": product.category_id,
        "max_per_order": product.max_per_order,
        "max_per_buyer": product.max_per_buyer,
        "visible": product.visible,
        "sort_order": product.sort_order,
        "issue_order": product.issue_order.value,
        "low_stock_threshold": product.low_stock_threshold,
        "low_stock_alerted": product.low_stock_alerted,
        "in_stock": product.in_stock,
        "face_value": product.face_value,
        "hide_when_sold_out": product.hide_when_sold_out,
        "variant_label": product.variant_label,
        "replacement_window_hours": product.replacement_window_hours,
        "replacements_per_order": product.replacements_per_order,
        "replacement_evidence_required": product.replacement_evidence_required,
    }


class CategoryRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, category: Category) -> bool:
        """False when the shop has a category of that name."""
        result = await self._session.execute(
            insert(categories)
            .values(
                id=category.id,
                shop_id=category.shop_id,
                name=category.name,
                sort_order=category.sort_order,
                visible=category.visible,
            )
            .on_conflict_do_nothing()
            .returning(categories.c.id)
        )
        return result.first() is not None

    async def in_shop(self, shop_id: UUID, category_id: UUID) -> Category | None:
        """The shop's category; None for an unknown id or another shop's."""
        row = (
            await self._session.execute(
                select(categories).where(categories.c.id == category_id, categories.c.shop_id == shop_id)
            )
        ).first()
        return _category(row) if row else None

    async def list(self, shop_id: UUID) -> list[Category]:
        rows = await self._session.execute(
            select(categories)
            .where(categories.c.shop_id == shop_id)
            .order_by(categories.c.sort_order, categories.c.name)
        )
        return [_category(r) for r in rows]


def _category(row: Row[tuple[object, ...]]) -> Category:
    return Category(row.id, row.shop_id, row.name, row.sort_order, row.visible)


# Statements of the hot paths (a product read behind every order placed and every key reveal, the
# reservation and the sold keys behind every reveal), built once with bound parameters: building them per
# call was a third of each read's CPU in SQLAlchemy (py-spy).
#: A product is read about five times a sale (its terms for the order, its reservation, its allocation, two
#: key reveals): compiled once and run on the driver (see `Compiled`).
_PRODUCT = select(products).where(products.c.id == bindparam("product_id"))
_SHOP_PRODUCT = _PRODUCT.where(products.c.shop_id == bindparam("shop_id"))
_PRODUCTS = {
    (in_shop, locked): Compiled(query.with_for_update() if locked else query)
    for in_shop, query in ((False, _PRODUCT), (True, _SHOP_PRODUCT))
    for locked in (False, True)
}


class ProductRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, product: Product) -> None:
        await self._session.execute(
            insert(products).values(
                id=product.id,
                shop_id=product.shop_id,
                delivery_type=product.delivery_type,
                loop_key_sealed=product.loop_key.blob if product.loop_key else None,
                loop_key_key_id=product.loop_key.key_id if product.loop_key else None,
                created_at=product.created_at,
                variant_of=product.variant_of,
                **_product_values(product),
            )
        )
        await self._session.execute(
            insert(stock_counts).values(product_id=product.id, shop_id=product.shop_id)
        )

    async def update(self, product: Product) -> None:
        await self._session.execute(
            update(products)
            .where(products.c.id == product.id, products.c.shop_id == product.shop_id)
            .values(updated_at=func.now(), version=products.c.version + 1, **_product_values(product))
        )

    async def get(self, product_id: UUID, for_update: bool = False) -> Product | None:
        """The product, whichever shop it belongs to: for the consumers and sweeps, which compare its shop
        with the event's themselves. A route asks `in_shop`."""
        row = await _PRODUCTS[False, for_update].first(self._session, {"product_id": product_id})
        return product_of(row) if row else None

    async def in_shop(self, shop_id: UUID, product_id: UUID, for_update: bool = False) -> Product | None:
        """The shop's product; None for an unknown id or another shop's."""
        params = {"product_id": product_id, "shop_id": shop_id}
        row = await _PRODUCTS[True, for_update].first(self._session, params)
        return product_of(row) if row else None

    async def get_many(self, product_ids: Sequence[UUID]) -> list[Product]:
        rows = await self._session.execute(
            select(products).where(products.c.id.in_(product_ids)).order_by(products.c.id).with_for_update()
        )
        return [product_of(row) for row in rows]

    async def of_every_shop(self) -> list[Product]:
        """Every product of every shop (the storefront read model's rebuild)."""
        rows = await self._session.execute(
            select(products).order_by(products.c.sort_order, products.c.created_at, products.c.id)
        )
        return [product_of(row) for row in rows]

    async def list(self, shop_id: UUID) -> list[Product]:
        """The shop's products (through products_shop_list)."""
        rows = await self._session.execute(
            select(products)
            .where(products.c.shop_id == shop_id)
            .order_by(products.c.sort_order, products.c.created_at, products.c.id)
        )
        return [product_of(row) for row in rows]
