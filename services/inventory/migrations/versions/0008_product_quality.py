"""Quality automation: an import batch may name the supplier its keys came from (a claim against it when one
is replaced); a product paused by its after-sales rate until an operator resumes it; the shop's threshold;
hourly rollups per product of deliveries, failures, after-sales cases and delivery times (paid to
delivered, in fixed buckets), fed by delivery's events, so neither the pause nor the product page scans
deliveries.

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import UUID

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.add_column("key_batches", sa.Column("supplier_id", UUID(as_uuid=True)))
    op.create_index("key_batches_supplier", "key_batches", ["shop_id", "supplier_id"])
    op.add_column("products", sa.Column("paused_at", TS))
    op.add_column("products", sa.Column("paused_reason", sa.Text))
    op.add_column("products", sa.Column("resumed_at", TS))
    op.create_table(
        "product_quality_policies",
        sa.Column("shop_id", UUID(as_uuid=True), primary_key=True),
        sa.Column("window_days", sa.Integer, nullable=False),
        sa.Column("min_deliveries", sa.Integer, nullable=False),
        sa.Column("pause_rate", sa.Float, nullable=False),
    )
    op.create_table(
        "product_quality_hours",
        sa.Column("product_id", UUID(as_uuid=True), primary_key=True),
        sa.Column("hour", TS, primary_key=True),
        sa.Column("shop_id", UUID(as_uuid=True), nullable=False),
        sa.Column("delivered_orders", sa.Integer, nullable=False, server_default="0"),
        sa.Column("delivered_items", sa.Integer, nullable=False, server_default="0"),
        sa.Column("failed_orders", sa.Integer, nullable=False, server_default="0"),
        sa.Column("cases", sa.Integer, nullable=False, server_default="0"),
    )
    op.create_table(
        "product_delivery_times",
        sa.Column("product_id", UUID(as_uuid=True), primary_key=True),
        sa.Column("hour", TS, primary_key=True),
        sa.Column("bucket", sa.Integer, primary_key=True),
        sa.Column("shop_id", UUID(as_uuid=True), nullable=False),
        sa.Column("deliveries", sa.Integer, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("product_delivery_times")
    op.drop_table("product_quality_hours")
    op.drop_table("product_quality_policies")
    for column in ("resumed_at", "paused_reason", "paused_at"):
        op.drop_column("products", column)
    op.drop_index("key_batches_supplier", "key_batches")
    op.drop_column("key_batches", "supplier_id")
