"""Shops: every order-owned row names its shop. Existing rows are the default shop's (the column is added with
that default to backfill them, then the default is dropped, so a write that forgets the shop fails). What a
seller sees as unique becomes unique per shop: coupon codes, idempotency keys, wholesale tiers per product, and
a provider's trade numbers (a shop collecting with its own provider account gets that account's numbers,
which another shop's account may repeat). Shop-scoped lists and lookups get indexes that lead with the shop.

Revision ID: 0009
Revises: 0008
"""

from uuid import UUID

import sqlalchemy as sa
from alembic import op
from faka_common.db.migrations import add_shop_id

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

#: faka_common.contracts.shops.DEFAULT_SHOP_ID, as it was when this revision was written.
DEFAULT_SHOP = UUID("00000000-0000-4000-8000-000000000001")

SHOP_OWNED = (
    "orders",
    "order_transitions",
    "payments",
    "payment_attempts",
    "payment_exceptions",
    "payment_checks",
    "refunds",
    "auto_refunds",
    "idempotency_keys",
    "order_price_tiers",
    "coupons",
    "coupon_redemptions",
)


def upgrade() -> None:
    add_shop_id(*SHOP_OWNED, backfill=DEFAULT_SHOP)

    op.create_index("orders_shop_created", "orders", ["shop_id", sa.text("created_at DESC")])
    op.drop_index("orders_buyer_email", "orders")
    op.execute("CREATE INDEX orders_buyer_email ON orders (shop_id, lower(buyer_email), created_at DESC)")

    op.drop_constraint("payments_provider_trade_no", "payments")
    op.create_unique_constraint("payments_provider_trade_no", "payments", ["shop_id", "provider", "trade_no"])
    op.drop_index("payments_received_at", "payments")
    op.create_index("payments_received_at", "payments", ["shop_id", "received_at"])
    op.drop_constraint("payment_exceptions_provider_trade_no", "payment_exceptions")
    op.create_unique_constraint(
        "payment_exceptions_provider_trade_no", "payment_exceptions", ["shop_id", "provider", "trade_no"]
    )
    op.create_index("payment_exceptions_received_at", "payment_exceptions", ["shop_id", "received_at"])

    op.drop_constraint("idempotency_keys_pkey", "idempotency_keys")
    op.create_primary_key("idempotency_keys_pkey", "idempotency_keys", ["shop_id", "key"])
    op.drop_constraint("order_price_tiers_pkey", "order_price_tiers")
    op.create_primary_key(
        "order_price_tiers_pkey", "order_price_tiers", ["shop_id", "product_id", "min_quantity"]
    )

    op.drop_constraint("coupon_redemptions_code_fkey", "coupon_redemptions")
    op.drop_constraint("coupons_pkey", "coupons")
    op.create_primary_key("coupons_pkey", "coupons", ["shop_id", "code"])
    op.create_foreign_key(
        "coupon_redemptions_code_fkey",
        "coupon_redemptions",
        "coupons",
        ["shop_id", "code"],
        ["shop_id", "code"],
    )
    op.create_index("coupons_shop_created", "coupons", ["shop_id", sa.text("created_at DESC")])
    op.drop_index("coupon_redemptions_buyer", "coupon_redemptions")
    op.execute(
        "CREATE INDEX coupon_redemptions_buyer ON coupon_redemptions (shop_id, code, lower(buyer_email))"
    )


def downgrade() -> None:
    """Back to one shop: fails (a duplicate key) when two shops hold the same coupon code, idempotency key,
    product tier or trade number, rather than merging them."""
    op.drop_index("coupon_redemptions_buyer", "coupon_redemptions")
    op.execute("CREATE INDEX coupon_redemptions_buyer ON coupon_redemptions (code, lower(buyer_email))")
    op.drop_index("coupons_shop_created", "coupons")
    op.drop_constraint("coupon_redemptions_code_fkey", "coupon_redemptions")
    op.drop_constraint("coupons_pkey", "coupons")
    op.create_primary_key("coupons_pkey", "coupons", ["code"])
    op.create_foreign_key("coupon_redemptions_code_fkey", "coupon_redemptions", "coupons", ["code"], ["code"])

    op.drop_constraint("order_price_tiers_pkey", "order_price_tiers")
    op.create_primary_key("order_price_tiers_pkey", "order_price_tiers", ["product_id", "min_quantity"])
    op.drop_constraint("idempotency_keys_pkey", "idempotency_keys")
    op.create_primary_key("idempotency_keys_pkey", "idempotency_keys", ["key"])

    op.drop_index("payment_exceptions_received_at", "payment_exceptions")
    op.drop_constraint("payment_exceptions_provider_trade_no", "payment_exceptions")
    op.create_unique_constraint(
        "payment_exceptions_provider_trade_no", "payment_exceptions", ["provider", "trade_no"]
    )
    op.drop_index("payments_received_at", "payments")
    op.create_index("payments_received_at", "payments", ["received_at"])
    op.drop_constraint("payments_provider_trade_no", "payments")
    op.create_unique_constraint("payments_provider_trade_no", "payments", ["provider", "trade_no"])

    op.drop_index("orders_buyer_email", "orders")
    op.execute("CREATE INDEX orders_buyer_email ON orders (lower(buyer_email), created_at DESC)")
    op.drop_index("orders_shop_created", "orders")
    for table in SHOP_OWNED:
        op.drop_column(table, "shop_id")
