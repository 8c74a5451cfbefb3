"""The storefront read model in Redis: the inventory writes it, the gateway reads it. Every key starts with
the deployment's kafka namespace, so namespaces sharing one Redis never see each other's catalog.

- `inventory:catalog` (sorted set): the ids of the products on sale (active and visible), scored by
  sort_order; ties in id order (uuid7: creation order).
- `inventory:catalog:<id>` (hash): a product's public fields (`CATALOG_FIELDS`) and `version`; a product
  taken off sale keeps only `version` (a tombstone, so an older write cannot bring it back).
- `inventory:stock:<id>` (hash): version, available ('' when uncounted: loop-key, manual, recharge),
  reserved, sold, in_stock ('1'/'0').
- `inventory:catalog-built` (string): set when a rebuild from Postgres completed; without it the read model
  is incomplete (a flushed Redis) and readers ask the inventory instead.

Never anything secret: no loop keys, no thresholds, no costs."""

from __future__ import annotations

from uuid import UUID

#: A product's public fields as stored in its catalog hash; None is stored as ''.
CATALOG_FIELDS = (
    "title",
    "description",
    "price",
    "currency",
    "delivery_type",
    "category_id",
    "sort_order",
    "max_per_order",
    "max_per_buyer",
    "usage_instructions",
    "hide_when_sold_out",
    "variant_of",
    "variant_label",
)


def stock_key(prefix: str, product_id: UUID | str) -> str:
    return f"{prefix}inventory:stock:{product_id}"


def catalog_key(prefix: str, product_id: UUID | str) -> str:
    return f"{prefix}inventory:catalog:{product_id}"


def catalog_index_key(prefix: str) -> str:
    return f"{prefix}inventory:catalog"


def catalog_built_key(prefix: str) -> str:
    return f"{prefix}inventory:catalog-built"
