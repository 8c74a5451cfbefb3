"""Inventory at scale: categories and catalog fields, batch cost/expiry, issue order (FIFO by expiry then
position, or random rank), contention-free stock counts (deltas folded into per-product totals), the
reservation-expiry sweep index.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

UUID = postgresql.UUID(as_uuid=True)
INFINITY = sa.text("'infinity'::timestamptz")


def upgrade() -> None:
    op.create_table(
        "categories",
        sa.Column("id", UUID, primary_key=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("sort_order", sa.Integer, nullable=False, server_default="0"),
        sa.Column("visible", sa.Boolean, nullable=False, server_default=sa.text("true")),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.UniqueConstraint("name", name="categories_name"),
    )
    op.add_column("products", sa.Column("category_id", UUID, sa.ForeignKey("categories.id")))
    op.add_column("products", sa.Column("max_per_order", sa.Integer))
    op.add_column("products", sa.Column("max_per_buyer", sa.Integer))
    op.add_column(
        "products", sa.Column("visible", sa.Boolean, nullable=False, server_default=sa.text("true"))
    )
    op.add_column("products", sa.Column("sort_order", sa.Integer, nullable=False, server_default="0"))
    op.add_column("products", sa.Column("issue_order", sa.Text, nullable=False, server_default="fifo"))
    op.add_column("products", sa.Column("low_stock_threshold", sa.Integer))
    op.add_column(
        "products",
        sa.Column("low_stock_alerted", sa.Boolean, nullable=False, server_default=sa.text("false")),
    )
    op.add_column(
        "products", sa.Column("in_stock", sa.Boolean, nullable=False, server_default=sa.text("true"))
    )
    op.add_column(
        "products",
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    )
    op.create_check_constraint("products_issue_order", "products", "issue_order IN ('fifo', 'random')")
    op.create_check_constraint(
        "products_limits_positive",
        "products",
        "(max_per_order IS NULL OR max_per_order >= 1) AND (max_per_buyer IS NULL OR max_per_buyer >= 1)",
    )
    op.create_check_constraint(
        "products_low_stock_threshold", "products", "low_stock_threshold IS NULL OR low_stock_threshold >= 0"
    )

    op.add_column("key_batches", sa.Column("seq", sa.BigInteger, sa.Identity(), nullable=False))
    op.add_column("key_batches", sa.Column("cost_price", sa.BigInteger))
    op.add_column("key_batches", sa.Column("expires_at", sa.DateTime(timezone=True)))
    op.add_column("key_batches", sa.Column("source", sa.Text, nullable=False, server_default="text"))
    op.add_column(
        "key_batches",
        sa.Column("invalid_lines", postgresql.JSONB, nullable=False, server_default=sa.text("'[]'::jsonb")),
    )
    op.create_check_constraint(
        "key_batches_cost_not_negative", "key_batches", "cost_price IS NULL OR cost_price >= 0"
    )

    # Where a key stands in its product's issue order: FIFO by (expires_at, position), random by rank.
    # A key without expiry expires at 'infinity', so the FIFO claim is one index range scan.
    op.add_column("card_keys", sa.Column("position", sa.BigInteger, nullable=False, server_default="0"))
    op.add_column(
        "card_keys",
        sa.Column("rank", sa.BigInteger, nullable=False, server_default=sa.text("(random() * 9e18)::bigint")),
    )
    op.add_column(
        "card_keys",
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False, server_default=INFINITY),
    )
    op.add_column("card_keys", sa.Column("voided_at", sa.DateTime(timezone=True)))
    op.drop_constraint("card_keys_status", "card_keys")
    op.create_check_constraint(
        "card_keys_status", "card_keys", "status IN ('available', 'reserved', 'sold', 'void', 'expired')"
    )
    op.execute(
        "UPDATE card_keys c SET position = r.n "
        "FROM (SELECT id, row_number() OVER (ORDER BY id) AS n FROM card_keys) r WHERE r.id = c.id"
    )

    op.add_column(
        "available_keys",
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False, server_default=INFINITY),
    )
    op.add_column("available_keys", sa.Column("rank", sa.BigInteger, nullable=False, server_default="0"))
    op.execute(
        "UPDATE available_keys a SET seq = c.position, rank = c.rank FROM card_keys c WHERE c.id = a.key_id"
    )
    op.drop_index("available_keys_product_seq", "available_keys")
    op.create_index("available_keys_fifo", "available_keys", ["product_id", "expires_at", "seq"])
    op.create_index("available_keys_random", "available_keys", ["product_id", "rank"])
    op.create_index(
        "available_keys_expiring",
        "available_keys",
        ["expires_at"],
        postgresql_where=sa.text("expires_at < 'infinity'::timestamptz"),
    )

    op.create_index(
        "reservations_active_expiry",
        "reservations",
        ["expires_at"],
        postgresql_where=sa.text("status = 'active' AND expires_at IS NOT NULL"),
    )

    # Exact stock counts without a hot row: each transaction appends its change; a sweep folds the
    # changes into stock_counts (whose version orders the Redis projection).
    op.create_table(
        "stock_counts",
        sa.Column("product_id", UUID, sa.ForeignKey("products.id"), primary_key=True),
        sa.Column("available", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("reserved", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("sold", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("version", sa.BigInteger, nullable=False, server_default="0"),
    )
    op.create_table(
        "stock_changes",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("product_id", UUID, nullable=False),
        sa.Column("available", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("reserved", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("sold", sa.BigInteger, nullable=False, server_default="0"),
    )
    op.create_index("stock_changes_product", "stock_changes", ["product_id"])
    op.execute(
        """
        INSERT INTO stock_counts (product_id, available, reserved, sold)
        SELECT p.id,
               count(*) FILTER (WHERE c.status = 'available'),
               count(*) FILTER (WHERE c.status = 'reserved'),
               count(*) FILTER (WHERE c.status = 'sold')
        FROM products p LEFT JOIN card_keys c ON c.product_id = p.id
        WHERE p.delivery_type = 'card_key' GROUP BY p.id
        """
    )
    op.execute(
        """
        INSERT INTO stock_counts (product_id, reserved, sold)
        SELECT p.id,
               coalesce(sum(r.quantity) FILTER (WHERE r.status = 'active'), 0),
               coalesce(sum(r.quantity) FILTER (WHERE r.status = 'allocated'), 0)
        FROM products p LEFT JOIN reservations r ON r.product_id = p.id
        WHERE p.delivery_type = 'loop_key' GROUP BY p.id
        """
    )
    op.execute(
        "UPDATE products p SET in_stock = (s.available > 0) FROM stock_counts s "
        "WHERE s.product_id = p.id AND p.delivery_type = 'card_key'"
    )


def downgrade() -> None:
    op.drop_table("stock_changes")
    op.drop_table("stock_counts")
    op.drop_index("reservations_active_expiry", "reservations")
    op.drop_index("available_keys_expiring", "available_keys")
    op.drop_index("available_keys_random", "available_keys")
    op.drop_index("available_keys_fifo", "available_keys")
    op.create_index("available_keys_product_seq", "available_keys", ["product_id", "seq"])
    op.drop_column("available_keys", "rank")
    op.drop_column("available_keys", "expires_at")
    op.execute("DELETE FROM card_keys WHERE status = 'expired'")
    op.drop_constraint("card_keys_status", "card_keys")
    op.create_check_constraint(
        "card_keys_status", "card_keys", "status IN ('available', 'reserved', 'sold', 'void')"
    )
    for column in ("voided_at", "expires_at", "rank", "position"):
        op.drop_column("card_keys", column)
    op.drop_constraint("key_batches_cost_not_negative", "key_batches")
    for column in ("invalid_lines", "source", "expires_at", "cost_price", "seq"):
        op.drop_column("key_batches", column)
    for name in ("products_low_stock_threshold", "products_limits_positive", "products_issue_order"):
        op.drop_constraint(name, "products")
    for column in (
        "updated_at", "in_stock", "low_stock_alerted", "low_stock_threshold", "issue_order",
        "sort_order", "visible", "max_per_buyer", "max_per_order", "category_id",
    ):  # fmt: skip
        op.drop_column("products", column)
    op.drop_table("categories")
