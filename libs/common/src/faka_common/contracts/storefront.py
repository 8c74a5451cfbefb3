"""The storefront read model in Redis: the inventory writes it, the gateway reads it. One catalog per shop:
a shop's read never sees another shop's products. Every key starts with the deployment's kafka namespace,
so namespaces sharing one Redis never see each other's catalog.

- `inventory:<shop_id>:catalog` (sorted set): the ids of the shop's products on sale (active and visible),
  scored by sort_order; ties in id order (uuid7: creation order). A product is only ever in its own shop's
  index.
- `inventory:catalog:<id>` (hash): a product's public fields (`CATALOG_FIELDS`) and `version`; a product
  taken off sale keeps only `version` (a tombstone, so an older write cannot bring it back).
- `inventory:stock:<id>` (hash): version, available ('' when uncounted: loop-key, manual, recharge),
  reserved, sold, in_stock ('1'/'0').
- `inventory:<shop_id>:catalog-built` (string): the shop's index is complete. A rebuild from Postgres sets
  it for every shop that has products; after that, the first write of a shop that had none sets it. Without
  it (a flushed Redis, a shop with no product yet) readers ask the inventory for that shop instead.
- `inventory:catalog-rebuilt` (string, the inventory's own): a rebuild of every shop completed and Redis was
  not flushed since. Only while it stands does a write mark its shop built (a shop without the mark then
  had no product when the rebuild read Postgres, so what was written since is the whole of its index).

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


def catalog_index_key(prefix: str, shop_id: UUID | str) -> str:
    return f"{prefix}inventory:{shop_id}:catalog"


def catalog_built_key(prefix: str, shop_id: UUID | str) -> str:
    return f"{prefix}inventory:{shop_id}:catalog-built"


def catalog_rebuilt_key(prefix: str) -> str:
    return f"{prefix}inventory:catalog-rebuilt"
