"""Delivery tables: the metadata every repository of the delivery service writes through (the other adapters
that own a table, such as tickets, attachments and supplier accounts, add theirs to it), and the tables of
deliveries and their attempts, suppliers and their routes, the manual queue, delivered contents and their
reveals, and the suppliers' claims, key batches and ledger."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    Float,
    ForeignKeyConstraint,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Table,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.postgresql import UUID as PgUUID

metadata = MetaData()
TS = DateTime(timezone=True)

deliveries = Table(
    "deliveries",
    metadata,
    Column("id", PgUUID(as_uuid=True), primary_key=True),
    Column("shop_id", PgUUID(as_uuid=True), nullable=False),
    Column("order_id", PgUUID(as_uuid=True), nullable=False, unique=True),
    Column("mode", Text, nullable=False),
    Column("item_count", Integer, nullable=False),
    Column("status", Text, nullable=False),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("reason", Text),
    Column("created_at", TS, nullable=False, server_default=func.now()),
    Column("completed_at", TS),
    Column("latency_ms", Integer),
    Column("product_id", PgUUID(as_uuid=True)),
    Column("paid_at", TS),
    Column("requested_at", TS),
    Column("request", JSONB, nullable=False),
    Column("next_attempt_at", TS),
    Column("lease_until", TS),
    Column("sla_alerted_at", TS),
    CheckConstraint(
        "status IN ('pending', 'recharging', 'manual', 'succeeded', 'failed', 'cancelled')",
        name="deliveries_status",
    ),
)

delivery_attempts = Table(
    "delivery_attempts",
    metadata,
    Column("id", PgUUID(as_uuid=True), primary_key=True),
    Column("shop_id", PgUUID(as_uuid=True), nullable=False),
    Column("delivery_id", PgUUID(as_uuid=True), nullable=False),
    Column("order_id", PgUUID(as_uuid=True), nullable=False),
    Column("channel", Text, nullable=False),
    Column("phase", Text, nullable=False),
    Column("supplier_id", PgUUID(as_uuid=True)),
    Column("cost", BigInteger),
    Column("started_at", TS, nullable=False),
    Column("finished_at", TS),
    Column("latency_ms", Integer),
    Column("outcome", Text, nullable=False),
    Column("error_class", Text),
    Column("error", Text),
    Column("supplier_order_no", Text),
)

suppliers = Table(
    "suppliers",
    metadata,
    Column("id", PgUUID(as_uuid=True), primary_key=True),
    Column("shop_id", PgUUID(as_uuid=True), nullable=False),
    Column("name", Text, nullable=False),
    Column("kind", Text, nullable=False),
    Column("base_url", Text, nullable=False),
    Column("config", JSONB, nullable=False),
    Column("secret_key_id", Text, nullable=False),
    Column("secret_blob", LargeBinary, nullable=False),
    Column("timeout_seconds", Float, nullable=False),
    Column("active", Boolean, nullable=False),
    Column("created_at", TS, nullable=False, server_default=func.now()),
    Column("paused_at", TS),
    Column("paused_reason", Text),
    Column("resumed_at", TS),
    UniqueConstraint("shop_id", "name", name="suppliers_shop_name"),
    UniqueConstraint("shop_id", "id", name="suppliers_shop_id"),
)

supplier_routes = Table(
    "supplier_routes",
    metadata,
    Column("id", PgUUID(as_uuid=True), primary_key=True),
    Column("shop_id", PgUUID(as_uuid=True), nullable=False),
    Column("product_id", PgUUID(as_uuid=True), nullable=False),
    Column("supplier_id", PgUUID(as_uuid=True), nullable=False),
    Column("supplier_sku", Text, nullable=False),
    Column("priority", Integer, nullable=False),
    Column("cost", BigInteger, nullable=False),
    Column("currency", Text, nullable=False),
    Column("active", Boolean, nullable=False),
    UniqueConstraint("product_id", "supplier_id", name="supplier_routes_product_supplier"),
    ForeignKeyConstraint(
        ["shop_id", "supplier_id"],
        ["suppliers.shop_id", "suppliers.id"],
        name="supplier_routes_shop_supplier",
    ),
)

manual_tasks = Table(
    "manual_tasks",
    metadata,
    Column("id", PgUUID(as_uuid=True), primary_key=True),
    Column("shop_id", PgUUID(as_uuid=True), nullable=False),
    Column("order_id", PgUUID(as_uuid=True), nullable=False, unique=True),
    Column("delivery_id", PgUUID(as_uuid=True), nullable=False),
    Column("reason", Text, nullable=False),
    Column("detail", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("created_at", TS, nullable=False),
    Column("claimed_by", Text),
    Column("claimed_at", TS),
    Column("resolved_by", Text),
    Column("resolved_at", TS),
    Column("reject_reason", Text),
)

delivery_contents = Table(
    "delivery_contents",
    metadata,
    Column("order_id", PgUUID(as_uuid=True), primary_key=True),
    Column("shop_id", PgUUID(as_uuid=True), nullable=False),
    Column("delivery_id", PgUUID(as_uuid=True), nullable=False),
    Column("source", Text, nullable=False),
    Column("key_id", Text, nullable=False),
    Column("blob", LargeBinary, nullable=False),
    Column("created_at", TS, nullable=False, server_default=func.now()),
)

content_reveals = Table(
    "content_reveals",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("shop_id", PgUUID(as_uuid=True), nullable=False),
    Column("order_id", PgUUID(as_uuid=True), nullable=False),
    Column("reader", Text, nullable=False),
    Column("revealed_at", TS, nullable=False, server_default=func.now()),
)

supplier_claims = Table(
    "supplier_claims",
    metadata,
    Column("id", PgUUID(as_uuid=True), primary_key=True),
    Column("shop_id", PgUUID(as_uuid=True), nullable=False),
    Column("supplier_id", PgUUID(as_uuid=True), nullable=False),
    Column("order_id", PgUUID(as_uuid=True), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("currency", Text, nullable=False),
    Column("reason", Text, nullable=False),
    Column("recorded_by", Text, nullable=False),
    Column("created_at", TS, nullable=False, server_default=func.now()),
    Column("replacement_claim_id", PgUUID(as_uuid=True), unique=True),
    Column("batch_id", PgUUID(as_uuid=True)),
    ForeignKeyConstraint(
        ["shop_id", "supplier_id"],
        ["suppliers.shop_id", "suppliers.id"],
        name="supplier_claims_shop_supplier",
    ),
)

#: Per import batch of a card-key supplier: its keys delivered so far, as inventory counted them with the
#: latest KeyReplaced of the supplier (the denominator of its claim rate; figures only grow).
supplier_key_batches = Table(
    "supplier_key_batches",
    metadata,
    Column("batch_id", PgUUID(as_uuid=True), primary_key=True),
    Column("shop_id", PgUUID(as_uuid=True), nullable=False),
    Column("supplier_id", PgUUID(as_uuid=True), nullable=False),
    Column("imported_at", TS, nullable=False),
    Column("delivered", Integer, nullable=False),
    Column("updated_at", TS, nullable=False),
    CheckConstraint("delivered >= 0", name="supplier_key_batches_delivered"),
    ForeignKeyConstraint(
        ["shop_id", "supplier_id"],
        ["suppliers.shop_id", "suppliers.id"],
        name="supplier_key_batches_shop_supplier",
    ),
    Index("supplier_key_batches_supplier", "shop_id", "supplier_id", "imported_at"),
)

#: What the shop holds for each supplier: deposits in (positive), claims deducted (negative, one entry per
#: claim). Entries only, never an updated total: the balance is their sum.
supplier_ledger = Table(
    "supplier_ledger",
    metadata,
    Column("id", PgUUID(as_uuid=True), primary_key=True),
    Column("shop_id", PgUUID(as_uuid=True), nullable=False),
    Column("supplier_id", PgUUID(as_uuid=True), nullable=False),
    Column("kind", Text, nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("currency", Text, nullable=False),
    Column("claim_id", PgUUID(as_uuid=True), unique=True),
    Column("note", Text, nullable=False),
    Column("recorded_by", Text, nullable=False),
    Column("created_at", TS, nullable=False, server_default=func.now()),
    ForeignKeyConstraint(
        ["shop_id", "supplier_id"],
        ["suppliers.shop_id", "suppliers.id"],
        name="supplier_ledger_shop_supplier",
    ),
)
