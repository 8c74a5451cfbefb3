"""The console's order search: a payment's trade number is looked up within the shop without its provider
(the unique index leads with the provider after the shop), and a page of a shop's orders is read by
(created_at, id) from the key of the last one shown (keyset paging).

Revision ID: 0012
Revises: 0011
"""

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("payments_shop_trade_no", "payments", ["shop_id", "trade_no"])
    op.execute("CREATE INDEX orders_shop_created_id ON orders (shop_id, created_at DESC, id DESC)")
    op.drop_index("orders_shop_created", "orders")


def downgrade() -> None:
    op.execute("CREATE INDEX orders_shop_created ON orders (shop_id, created_at DESC)")
    op.drop_index("orders_shop_created_id", "orders")
    op.drop_index("payments_shop_trade_no", "payments")
