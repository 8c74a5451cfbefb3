"""Indexes for a shop's delivery figures over a period (the dashboard's delivery success): deliveries by
(shop_id, created_at) and attempts by (shop_id, started_at), so a period reads the shop's rows of the period
instead of every row of the shop.

Revision ID: 0010
Revises: 0009
"""

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("deliveries_shop_created", "deliveries", ["shop_id", "created_at"])
    op.create_index("delivery_attempts_shop_started", "delivery_attempts", ["shop_id", "started_at"])


def downgrade() -> None:
    op.drop_index("delivery_attempts_shop_started", table_name="delivery_attempts")
    op.drop_index("deliveries_shop_created", table_name="deliveries")
