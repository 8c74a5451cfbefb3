"""Pricing (wholesale tiers, coupons and their redemptions), what the order captured of its product
(delivery type, face value, buyer fields), and the buyer-email index for lookups and purchase limits.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

UUID = postgresql.UUID(as_uuid=True)


def upgrade() -> None:
    op.add_column("orders", sa.Column("discount", sa.BigInteger, nullable=False, server_default="0"))
    op.add_column("orders", sa.Column("coupon_code", sa.Text))
    op.add_column("orders", sa.Column("delivery_type", sa.Text, nullable=False, server_default="card_key"))
    op.add_column("orders", sa.Column("face_value", sa.BigInteger))
    op.add_column(
        "orders",
        sa.Column("buyer_fields", postgresql.JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")),
    )
    op.create_check_constraint("orders_discount_in_range", "orders", "discount >= 0")
    op.execute("CREATE INDEX orders_buyer_email ON orders (lower(buyer_email), created_at DESC)")
    op.create_table(
        "order_price_tiers",
        sa.Column("product_id", UUID, nullable=False),
        sa.Column("min_quantity", sa.Integer, nullable=False),
        sa.Column("unit_price", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("product_id", "min_quantity"),
        sa.CheckConstraint("min_quantity >= 2", name="order_price_tiers_min_quantity"),
        sa.CheckConstraint("unit_price >= 0", name="order_price_tiers_unit_price"),
    )
    op.create_table(
        "coupons",
        sa.Column("code", sa.Text, primary_key=True),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("value", sa.BigInteger, nullable=False),
        sa.Column("currency", sa.Text),
        sa.Column("product_id", UUID),
        sa.Column("category_id", UUID),
        sa.Column("usage_limit", sa.Integer),
        sa.Column("per_buyer_limit", sa.Integer),
        sa.Column("expires_at", sa.DateTime(timezone=True)),
        sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true()),
        sa.Column("used_count", sa.Integer, nullable=False, server_default="0"),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("kind IN ('fixed', 'percent')", name="coupons_kind"),
        sa.CheckConstraint(
            "usage_limit IS NULL OR used_count <= usage_limit", name="coupons_used_within_limit"
        ),
    )
    op.create_table(
        "coupon_redemptions",
        sa.Column("order_id", UUID, sa.ForeignKey("orders.id"), primary_key=True),
        sa.Column("code", sa.Text, sa.ForeignKey("coupons.code"), nullable=False),
        sa.Column("buyer_email", sa.Text, nullable=False),
        sa.Column("discount", sa.BigInteger, nullable=False),
        sa.Column("redeemed_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.execute("CREATE INDEX coupon_redemptions_buyer ON coupon_redemptions (code, lower(buyer_email))")


def downgrade() -> None:
    op.drop_table("coupon_redemptions")
    op.drop_table("coupons")
    op.drop_table("order_price_tiers")
    op.drop_index("orders_buyer_email", "orders")
    op.drop_constraint("orders_discount_in_range", "orders")
    for column in ("buyer_fields", "face_value", "delivery_type", "coupon_code", "discount"):
        op.drop_column("orders", column)
