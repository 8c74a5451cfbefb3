"""The seller's dashboard: a shop's orders paid in a period are read by (shop_id, paid_at) (only orders that
were paid are in it) and its refunds asked in a period by (shop_id, requested_at).

Revision ID: 0013
Revises: 0012
"""

from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("CREATE INDEX orders_shop_paid ON orders (shop_id, paid_at) WHERE paid_at IS NOT NULL")
    op.create_index("refunds_shop_requested", "refunds", ["shop_id", "requested_at"])


def downgrade() -> None:
    op.drop_index("refunds_shop_requested", "refunds")
    op.drop_index("orders_shop_paid", "orders")
