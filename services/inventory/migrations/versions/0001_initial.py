"""Messaging tables, products, key batches, card keys, the available-keys queue, reservations,
stock refusals, key reveals.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op
from faka_common.db.migrations import create_messaging_tables
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

UUID = postgresql.UUID(as_uuid=True)


def _now() -> sa.Column:
    return sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now())


def upgrade() -> None:
    create_messaging_tables()
    op.create_table(
        "products",
        sa.Column("id", UUID, primary_key=True),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("description", sa.Text, nullable=False, server_default=""),
        sa.Column("price", sa.BigInteger, nullable=False),
        sa.Column("currency", sa.Text, nullable=False),
        sa.Column("delivery_type", sa.Text, nullable=False),
        sa.Column("loop_key_sealed", sa.LargeBinary),
        sa.Column("loop_key_key_id", sa.Text),
        sa.Column("usage_instructions", sa.Text, nullable=False, server_default=""),
        sa.Column("active", sa.Boolean, nullable=False, server_default=sa.text("true")),
        _now(),
        sa.CheckConstraint("delivery_type IN ('card_key', 'loop_key')", name="products_delivery_type"),
        sa.CheckConstraint("price >= 0", name="products_price_not_negative"),
        sa.CheckConstraint(
            "delivery_type <> 'loop_key' OR (loop_key_sealed IS NOT NULL AND loop_key_key_id IS NOT NULL)",
            name="products_loop_key_present",
        ),
    )
    op.create_table(
        "key_batches",
        sa.Column("id", UUID, primary_key=True),
        sa.Column("product_id", UUID, sa.ForeignKey("products.id"), nullable=False),
        _now(),
        sa.Column("imported", sa.Integer, nullable=False, server_default="0"),
        sa.Column("duplicates", sa.Integer, nullable=False, server_default="0"),
        sa.Column("invalid", sa.Integer, nullable=False, server_default="0"),
    )
    op.create_index("key_batches_product", "key_batches", ["product_id"])
    op.create_table(
        "card_keys",
        sa.Column("id", UUID, primary_key=True),
        sa.Column("product_id", UUID, sa.ForeignKey("products.id"), nullable=False),
        sa.Column("batch_id", UUID, sa.ForeignKey("key_batches.id"), nullable=False),
        sa.Column("fingerprint", sa.LargeBinary, nullable=False),
        sa.Column("key_id", sa.Text, nullable=False),
        sa.Column("sealed", sa.LargeBinary, nullable=False),
        sa.Column("status", sa.Text, nullable=False, server_default="available"),
        sa.Column("order_id", UUID),
        _now(),
        sa.UniqueConstraint("product_id", "fingerprint", name="card_keys_product_fingerprint"),
        sa.CheckConstraint("status IN ('available', 'reserved', 'sold', 'void')", name="card_keys_status"),
        sa.CheckConstraint(
            "(status IN ('reserved', 'sold')) = (order_id IS NOT NULL)", name="card_keys_owner_matches_status"
        ),
    )
    op.create_index(
        "card_keys_order", "card_keys", ["order_id"], postgresql_where=sa.text("order_id IS NOT NULL")
    )
    op.create_index("card_keys_product_status", "card_keys", ["product_id", "status"])
    op.create_index("card_keys_batch", "card_keys", ["batch_id"])
    # The claim queue: only keys that can be sold, so a claim never walks past sold rows.
    op.create_table(
        "available_keys",
        sa.Column("key_id", UUID, sa.ForeignKey("card_keys.id"), primary_key=True),
        sa.Column("product_id", UUID, nullable=False),
        sa.Column("seq", sa.BigInteger, sa.Identity(), nullable=False),
    )
    op.create_index("available_keys_product_seq", "available_keys", ["product_id", "seq"])
    op.create_table(
        "reservations",
        sa.Column("order_id", UUID, primary_key=True),
        sa.Column("product_id", UUID, sa.ForeignKey("products.id"), nullable=False),
        sa.Column("quantity", sa.Integer, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True)),
        _now(),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.CheckConstraint("status IN ('active', 'released', 'allocated')", name="reservations_status"),
        sa.CheckConstraint("quantity >= 1", name="reservations_quantity_positive"),
    )
    op.create_index("reservations_product_status", "reservations", ["product_id", "status"])
    # Orders that were refused for lack of stock: so a repeated OrderApproved is answered only once.
    op.create_table(
        "stock_refusals",
        sa.Column("order_id", UUID, primary_key=True),
        sa.Column("product_id", UUID, nullable=False),
        sa.Column("requested", sa.Integer, nullable=False),
        sa.Column("available", sa.Integer, nullable=False),
        _now(),
    )
    op.create_table(
        "key_reveals",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=True),
        sa.Column("order_id", UUID, nullable=False),
        sa.Column("product_id", UUID, nullable=False),
        sa.Column("key_id", UUID),
        sa.Column("reader", sa.Text, nullable=False),
        sa.Column("revealed_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    )
    op.create_index("key_reveals_order", "key_reveals", ["order_id"])


def downgrade() -> None:
    for table in (
        "key_reveals",
        "stock_refusals",
        "reservations",
        "available_keys",
        "card_keys",
        "key_batches",
        "products",
    ):
        op.drop_table(table)
    op.drop_table("inbox")
    op.drop_table("outbox")
