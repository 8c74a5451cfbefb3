"""Inventory tables (the metadata every repository writes through), and what a key rotation re-seals in
them. Card-key plaintext never reaches these tables: only sealed blobs."""

from __future__ import annotations

from faka_common.db.resealing import SealedColumns, SealedTable
from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    ForeignKeyConstraint,
    Identity,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Table,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.postgresql import UUID as PgUUID

from inventory.domain.keys import loop_key_context, seal_context

metadata = MetaData()
INFINITY = text("'infinity'::timestamptz")

categories = Table(
    "categories",
    metadata,
    Column("id", PgUUID(as_uuid=True), primary_key=True),
    Column("shop_id", PgUUID(as_uuid=True), nullable=False),
    Column("name", Text, nullable=False),
    Column("sort_order", Integer, nullable=False, server_default="0"),
    Column("visible", Boolean, nullable=False, server_default=text("true")),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    UniqueConstraint("shop_id", "name", name="categories_shop_name"),
    UniqueConstraint("shop_id", "id", name="categories_shop_id"),
)

products = Table(
    "products",
    metadata,
    Column("id", PgUUID(as_uuid=True), primary_key=True),
    Column("shop_id", PgUUID(as_uuid=True), nullable=False),
    Column("title", Text, nullable=False),
    Column("description", Text, nullable=False, server_default=""),
    Column("price", BigInteger, nullable=False),
    Column("currency", Text, nullable=False),
    Column("delivery_type", Text, nullable=False),
    Column("loop_key_sealed", LargeBinary),
    Column("loop_key_key_id", Text),
    Column("usage_instructions", Text, nullable=False, server_default=""),
    Column("active", Boolean, nullable=False, server_default=text("true")),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("category_id", PgUUID(as_uuid=True)),
    Column("max_per_order", Integer),
    Column("max_per_buyer", Integer),
    Column("visible", Boolean, nullable=False, server_default=text("true")),
    Column("sort_order", Integer, nullable=False, server_default="0"),
    Column("issue_order", Text, nullable=False, server_default="fifo"),
    Column("low_stock_threshold", Integer),
    Column("low_stock_alerted", Boolean, nullable=False, server_default=text("false")),
    Column("in_stock", Boolean, nullable=False, server_default=text("true")),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("face_value", BigInteger),
    Column("hide_when_sold_out", Boolean, nullable=False, server_default=text("false")),
    Column("version", BigInteger, nullable=False, server_default="0"),
    Column("variant_of", PgUUID(as_uuid=True)),
    Column("variant_label", Text),
    Column("replacement_window_hours", Integer, nullable=False, server_default="24"),
    Column("replacements_per_order", Integer, nullable=False, server_default="1"),
    Column("replacement_evidence_required", Boolean, nullable=False, server_default=text("false")),
    Column("paused_at", DateTime(timezone=True)),
    Column("paused_reason", Text),
    Column("resumed_at", DateTime(timezone=True)),
    UniqueConstraint("shop_id", "id", name="products_shop_id"),
    ForeignKeyConstraint(
        ["shop_id", "category_id"], ["categories.shop_id", "categories.id"], name="products_shop_category"
    ),
    ForeignKeyConstraint(
        ["shop_id", "variant_of"], ["products.shop_id", "products.id"], name="products_shop_variant_of"
    ),
    Index("products_shop_list", "shop_id", "sort_order", "created_at", "id"),
    CheckConstraint(
        "delivery_type IN ('card_key', 'loop_key', 'manual', 'recharge')", name="products_delivery_type"
    ),
    CheckConstraint("face_value IS NULL OR face_value > 0", name="products_face_value_positive"),
    CheckConstraint("price >= 0", name="products_price_not_negative"),
    CheckConstraint("variant_of IS NULL OR variant_label IS NOT NULL", name="products_variant_labelled"),
    CheckConstraint("variant_of IS DISTINCT FROM id", name="products_variant_not_itself"),
    CheckConstraint(
        "delivery_type <> 'loop_key' OR (loop_key_sealed IS NOT NULL AND loop_key_key_id IS NOT NULL)",
        name="products_loop_key_present",
    ),
)

key_batches = Table(
    "key_batches",
    metadata,
    Column("id", PgUUID(as_uuid=True), primary_key=True),
    Column("product_id", PgUUID(as_uuid=True), nullable=False),
    Column("shop_id", PgUUID(as_uuid=True), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("imported", Integer, nullable=False, server_default="0"),
    Column("duplicates", Integer, nullable=False, server_default="0"),
    Column("invalid", Integer, nullable=False, server_default="0"),
    Column("seq", BigInteger, Identity(), nullable=False),
    Column("cost_price", BigInteger),
    Column("expires_at", DateTime(timezone=True)),
    Column("source", Text, nullable=False, server_default="text"),
    Column("invalid_lines", JSONB, nullable=False, server_default=text("'[]'::jsonb")),
    Column("reported_invalid", Integer, nullable=False, server_default="0"),
    Column("supplier_id", PgUUID(as_uuid=True)),
    Index("key_batches_product", "product_id"),
    ForeignKeyConstraint(
        ["shop_id", "product_id"], ["products.shop_id", "products.id"], name="key_batches_shop_product"
    ),
)

card_keys = Table(
    "card_keys",
    metadata,
    Column("id", PgUUID(as_uuid=True), primary_key=True),
    Column("product_id", PgUUID(as_uuid=True), nullable=False),
    Column("shop_id", PgUUID(as_uuid=True), nullable=False),
    Column("batch_id", PgUUID(as_uuid=True), ForeignKey("key_batches.id"), nullable=False),
    Column("fingerprint", LargeBinary, nullable=False),
    Column("key_id", Text, nullable=False),
    Column("sealed", LargeBinary, nullable=False),
    Column("status", Text, nullable=False, server_default="available"),
    Column("order_id", PgUUID(as_uuid=True)),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("position", BigInteger, nullable=False, server_default="0"),
    Column("rank", BigInteger, nullable=False, server_default=text("(random() * 9e18)::bigint")),
    Column("expires_at", DateTime(timezone=True), nullable=False, server_default=INFINITY),
    Column("voided_at", DateTime(timezone=True)),
    UniqueConstraint("product_id", "fingerprint", name="card_keys_product_fingerprint"),
    ForeignKeyConstraint(
        ["shop_id", "product_id"], ["products.shop_id", "products.id"], name="card_keys_shop_product"
    ),
    CheckConstraint(
        "status IN ('available', 'reserved', 'sold', 'void', 'expired', 'withdrawn')", name="card_keys_status"
    ),
    Index("card_keys_order", "order_id", postgresql_where=text("order_id IS NOT NULL")),
    CheckConstraint(
        "(status IN ('reserved', 'sold')) = (order_id IS NOT NULL)", name="card_keys_owner_matches_status"
    ),
    Index("card_keys_product_status", "product_id", "status"),
    Index("card_keys_batch", "batch_id"),
)

# Whether delivery last announced the shop's supplier paused (its batches' keys `withdrawn` from sale) and
# when; a row for every supplier a batch names, which imports and releases lock against a pause.
supplier_holds = Table(
    "supplier_holds",
    metadata,
    Column("shop_id", PgUUID(as_uuid=True), primary_key=True),
    Column("supplier_id", PgUUID(as_uuid=True), primary_key=True),
    Column("paused", Boolean, nullable=False, server_default=text("false")),
    Column(
        "changed_at", DateTime(timezone=True), nullable=False, server_default=text("'-infinity'::timestamptz")
    ),
)

#: What a key rotation re-seals (faka_common.db.resealing): every card key, and every product's loop key.
SEALED = [
    SealedTable(
        card_keys,
        key=[card_keys.c.id],
        values=[
            SealedColumns(card_keys.c.key_id, card_keys.c.sealed, lambda r: seal_context(r.product_id, r.id))
        ],
    ),
    SealedTable(
        products,
        key=[products.c.id],
        values=[
            SealedColumns(
                products.c.loop_key_key_id, products.c.loop_key_sealed, lambda r: loop_key_context(r.id)
            )
        ],
    ),
]

# The claim queue: only keys that can be sold, so a claim never walks past sold rows. `seq` is the key's
# FIFO position, `rank` its random-order rank; one index per issue order.
available_keys = Table(
    "available_keys",
    metadata,
    Column("key_id", PgUUID(as_uuid=True), ForeignKey("card_keys.id"), primary_key=True),
    Column("product_id", PgUUID(as_uuid=True), nullable=False),
    Column("shop_id", PgUUID(as_uuid=True), nullable=False),
    Column("seq", BigInteger, Identity(), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False, server_default=INFINITY),
    Column("rank", BigInteger, nullable=False, server_default="0"),
    Index("available_keys_fifo", "product_id", "expires_at", "seq"),
    Index("available_keys_random", "product_id", "rank"),
)

reservations = Table(
    "reservations",
    metadata,
    Column("order_id", PgUUID(as_uuid=True), primary_key=True),
    Column("product_id", PgUUID(as_uuid=True), nullable=False),
    Column("shop_id", PgUUID(as_uuid=True), nullable=False),
    Column("quantity", Integer, nullable=False),
    Column("status", Text, nullable=False),
    Column("expires_at", DateTime(timezone=True)),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    CheckConstraint("status IN ('active', 'released', 'allocated')", name="reservations_status"),
    CheckConstraint("quantity >= 1", name="reservations_quantity_positive"),
    Index("reservations_product_status", "product_id", "status"),
    ForeignKeyConstraint(
        ["shop_id", "product_id"], ["products.shop_id", "products.id"], name="reservations_shop_product"
    ),
)

stock_refusals = Table(
    "stock_refusals",
    metadata,
    Column("order_id", PgUUID(as_uuid=True), primary_key=True),
    Column("product_id", PgUUID(as_uuid=True), nullable=False),
    Column("shop_id", PgUUID(as_uuid=True), nullable=False),
    Column("requested", Integer, nullable=False),
    Column("available", Integer, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("reason", Text),
)

key_reveals = Table(
    "key_reveals",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("order_id", PgUUID(as_uuid=True), nullable=False),
    Column("product_id", PgUUID(as_uuid=True), nullable=False),
    Column("shop_id", PgUUID(as_uuid=True), nullable=False),
    Column("key_id", PgUUID(as_uuid=True)),
    Column("reader", Text, nullable=False),
    Column("revealed_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Index("key_reveals_order", "order_id"),
)

stock_counts = Table(
    "stock_counts",
    metadata,
    Column("product_id", PgUUID(as_uuid=True), primary_key=True),
    Column("shop_id", PgUUID(as_uuid=True), nullable=False),
    Column("available", BigInteger, nullable=False, server_default="0"),
    Column("reserved", BigInteger, nullable=False, server_default="0"),
    Column("sold", BigInteger, nullable=False, server_default="0"),
    Column("version", BigInteger, nullable=False, server_default="0"),
    ForeignKeyConstraint(
        ["shop_id", "product_id"], ["products.shop_id", "products.id"], name="stock_counts_shop_product"
    ),
)

stock_changes = Table(
    "stock_changes",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("product_id", PgUUID(as_uuid=True), nullable=False),
    Column("shop_id", PgUUID(as_uuid=True), nullable=False),
    Column("available", BigInteger, nullable=False, server_default="0"),
    Column("reserved", BigInteger, nullable=False, server_default="0"),
    Column("sold", BigInteger, nullable=False, server_default="0"),
)
