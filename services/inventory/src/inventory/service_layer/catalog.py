"""The catalog: a shop's categories and products (create, edit, find, list with stock counts), the
ProductChanged they announce, the in-stock flag and low-stock alert a product's counts set, and the
storefront read model's writes and rebuild."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from faka_common.contracts.inventory import LowStock, ProductChanged
from faka_common.crypto import KeyRing
from faka_common.errors import Conflict, DomainError, NotFound
from uuid6 import uuid7

from inventory.adapters.catalog_projection import CatalogProjection, NoCatalogProjection
from inventory.domain.keys import loop_key_context
from inventory.domain.model import Category, Product
from inventory.domain.reservations import DeliveryType, keyless
from inventory.domain.stock import IssueOrder, Stock, stock_signals
from inventory.service_layer.unit_of_work import InventoryUnitOfWork

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class NewProduct:
    title: str
    price: int
    currency: str
    delivery_type: DeliveryType
    description: str = ""
    loop_key: str | None = None
    face_value: int | None = None
    usage_instructions: str = ""
    category_id: UUID | None = None
    max_per_order: int | None = None
    max_per_buyer: int | None = None
    active: bool = True
    visible: bool = True
    sort_order: int = 0
    issue_order: IssueOrder = IssueOrder.FIFO
    low_stock_threshold: int | None = None
    hide_when_sold_out: bool = False
    variant_of: UUID | None = None
    variant_label: str | None = None
    replacement_window_hours: int = 24
    replacements_per_order: int = 1
    replacement_evidence_required: bool = False


EDITABLE = frozenset(
    {
        "title", "description", "price", "currency", "usage_instructions", "category_id", "max_per_order",
        "max_per_buyer", "active", "visible", "sort_order", "issue_order", "low_stock_threshold",
        "face_value", "hide_when_sold_out", "variant_label", "replacement_window_hours",
        "replacements_per_order", "replacement_evidence_required",
    }
)  # fmt: skip

NO_CATALOG = NoCatalogProjection()


def product_changed(product: Product) -> ProductChanged:
    return ProductChanged(
        product_id=product.id,
        shop_id=product.shop_id,
        title=product.title,
        price=product.price,
        currency=product.currency,
        delivery_type=product.delivery_type,
        category_id=product.category_id,
        active=product.active,
        visible=product.visible,
        sort_order=product.sort_order,
        max_per_order=product.max_per_order,
        max_per_buyer=product.max_per_buyer,
        in_stock=product.in_stock,
        issue_order=product.issue_order.value,
        face_value=product.face_value,
        paused=product.paused_at is not None,
    )


async def create_category(
    shop_id: UUID, name: str, sort_order: int, visible: bool, uow: InventoryUnitOfWork
) -> Category:
    category = Category(uuid7(), shop_id, name, sort_order, visible)
    if not await uow.categories.add(category):
        raise Conflict(f"a category named {name!r} exists")
    await uow.commit()
    return category


async def list_categories(shop_id: UUID, uow: InventoryUnitOfWork) -> list[Category]:
    return await uow.categories.list(shop_id)


async def _check_category(uow: InventoryUnitOfWork, shop_id: UUID, category_id: UUID | None) -> None:
    if category_id is not None and await uow.categories.in_shop(shop_id, category_id) is None:
        raise NotFound(f"no category {category_id}")


async def create_product(
    shop_id: UUID,
    new: NewProduct,
    uow: InventoryUnitOfWork,
    keyring: KeyRing,
    catalog: CatalogProjection = NO_CATALOG,
) -> tuple[Product, Stock]:
    """Add a product to the shop (its category and main product are the shop's); after commit it is
    written to the storefront read model."""
    if new.delivery_type == "loop_key" and not (new.loop_key and new.loop_key.strip()):
        raise DomainError("a loop_key product needs a non-empty loop_key")
    if new.delivery_type != "loop_key" and new.loop_key is not None:
        raise DomainError("loop_key only applies to loop_key products")
    if new.delivery_type != "recharge" and new.face_value is not None:
        raise DomainError("face_value only applies to recharge products")
    await _check_category(uow, shop_id, new.category_id)
    await _check_variant(uow, shop_id, new)
    product_id = uuid7()
    sealed = None
    if new.delivery_type == "loop_key" and new.loop_key is not None:
        sealed = keyring.seal(new.loop_key.strip(), loop_key_context(product_id))
    empty = Stock(None) if keyless(new.delivery_type) else Stock()
    product = Product(
        id=product_id,
        shop_id=shop_id,
        title=new.title,
        description=new.description,
        price=new.price,
        currency=new.currency,
        delivery_type=new.delivery_type,
        usage_instructions=new.usage_instructions,
        active=new.active,
        created_at=datetime.now(UTC),
        loop_key=sealed,
        category_id=new.category_id,
        max_per_order=new.max_per_order,
        max_per_buyer=new.max_per_buyer,
        visible=new.visible,
        sort_order=new.sort_order,
        issue_order=new.issue_order,
        low_stock_threshold=new.low_stock_threshold,
        in_stock=keyless(new.delivery_type),
        face_value=new.face_value,
        hide_when_sold_out=new.hide_when_sold_out,
        variant_of=new.variant_of,
        variant_label=new.variant_label,
        replacement_window_hours=new.replacement_window_hours,
        replacements_per_order=new.replacements_per_order,
        replacement_evidence_required=new.replacement_evidence_required,
    )
    await uow.products.add(product)
    uow.publish(product_changed(product))
    await uow.commit()
    await _project(catalog, product)
    return product, empty


async def _check_variant(uow: InventoryUnitOfWork, shop_id: UUID, new: NewProduct) -> None:
    """A variant (SKU) hangs under a main product that is not itself a variant, in the same currency, and
    has a label to tell it apart (e.g. "100 元")."""
    if new.variant_of is None:
        return
    if not (new.variant_label and new.variant_label.strip()):
        raise DomainError("a variant needs a variant_label (how the buyer tells it from its siblings)")
    main = await uow.products.in_shop(shop_id, new.variant_of)
    if main is None:
        raise NotFound(f"variant_of names no product ({new.variant_of})")
    if main.variant_of is not None:
        raise Conflict("variant_of must name a main product, not another variant (one level of SKUs)")
    if main.currency != new.currency:
        raise Conflict(f"a variant is sold in its main product's currency ({main.currency})")


async def update_product(
    shop_id: UUID,
    product_id: UUID,
    changes: Mapping[str, Any],
    uow: InventoryUnitOfWork,
    catalog: CatalogProjection = NO_CATALOG,
) -> tuple[Product, Stock]:
    """Edit catalog fields (only those in `changes`); announces the product as it is now and, after
    commit, writes it to the storefront read model (or takes it off when hidden or inactive)."""
    unknown = set(changes) - EDITABLE
    if unknown:
        raise DomainError(f"not editable: {', '.join(sorted(unknown))}")
    product = await uow.products.in_shop(shop_id, product_id, for_update=True)
    if product is None:
        raise NotFound(f"no product {product_id}")
    if "category_id" in changes:
        await _check_category(uow, shop_id, changes["category_id"])
    values = dict(changes)
    if "issue_order" in values:
        values["issue_order"] = IssueOrder(values["issue_order"])
    updated = dataclasses.replace(product, **values)
    if updated.face_value is not None and updated.delivery_type != "recharge":
        raise Conflict("face_value only applies to recharge products")
    if updated.variant_of is not None and not (updated.variant_label and updated.variant_label.strip()):
        raise Conflict("a variant keeps a variant_label")
    counts = (await uow.stock.counts([updated]))[updated.id]
    if "low_stock_threshold" in changes:  # a new threshold re-arms the latch against the current count
        updated = dataclasses.replace(updated, low_stock_alerted=False)
    await uow.products.update(updated)
    await apply_signals(uow, updated, counts)
    updated = await uow.products.in_shop(shop_id, product_id) or updated
    uow.publish(product_changed(updated))
    await uow.commit()
    await _project(catalog, updated)
    return updated, counts


async def apply_signals(uow: InventoryUnitOfWork, product: Product, counts: Stock) -> bool:
    signals = stock_signals(
        counts.available, product.low_stock_threshold, product.low_stock_alerted, product.in_stock
    )
    if signals.low_stock_alerted != product.low_stock_alerted or signals.in_stock_changed:
        updated = dataclasses.replace(
            product, low_stock_alerted=signals.low_stock_alerted, in_stock=signals.in_stock
        )
        await uow.products.update(updated)
        if signals.in_stock_changed:
            uow.publish(product_changed(updated))
    if signals.announce_low_stock:
        assert counts.available is not None and product.low_stock_threshold is not None
        uow.publish(
            LowStock(
                product_id=product.id,
                shop_id=product.shop_id,
                title=product.title,
                available=counts.available,
                threshold=product.low_stock_threshold,
            )
        )
        log.info("product %s is low on stock: %d left", product.id, counts.available)
    return signals.in_stock


async def _project(catalog: CatalogProjection, product: Product) -> None:
    try:
        await catalog.publish(product)
    except Exception as error:  # the projection counts it as missed; its sweep rebuilds from Postgres
        log.warning("storefront entry of %s not written: %s", product.id, error)


async def rebuild_storefront(uow: InventoryUnitOfWork, catalog: CatalogProjection) -> int:
    """Write every product of every shop and its folded stock counts from Postgres to the storefront read
    model, each into its shop's index, and mark those shops built (each write version-guarded, so a newer
    one already there is kept); returns how many products."""
    catalog.begin_rebuild()
    products = await uow.products.of_every_shop()
    folded = await uow.stock.folded(products)
    await uow.rollback()  # read only: no transaction stays open while Redis is written
    await catalog.rebuild([(p, *folded[p.id]) for p in products])
    shops = len({p.shop_id for p in products})
    log.info("storefront read model rebuilt: %d products of %d shops", len(products), shops)
    return len(products)


async def find_product(shop_id: UUID, product_id: UUID, uow: InventoryUnitOfWork) -> Product:
    """The shop's product (NotFound for another shop's), without its stock counts."""
    product = await uow.products.in_shop(shop_id, product_id)
    if product is None:
        raise NotFound(f"no product {product_id}")
    return product


async def get_product(shop_id: UUID, product_id: UUID, uow: InventoryUnitOfWork) -> tuple[Product, Stock]:
    product = await find_product(shop_id, product_id, uow)
    counts = await uow.stock.counts([product])
    return product, counts[product.id]


async def list_products(shop_id: UUID, uow: InventoryUnitOfWork) -> list[tuple[Product, Stock]]:
    items = await uow.products.list(shop_id)
    counts = await uow.stock.counts(items)
    return [(p, counts[p.id]) for p in items]
