"""Card-key suppliers' sales: per import batch of a supplier, its import time and how many of its keys were
delivered (as inventory counted them at the latest replacement of one of the supplier's keys), so the
supplier's claim rate has the keys it sold as its denominator, as a recharge supplier's has its top-ups.

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import UUID

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "supplier_key_batches",
        sa.Column("batch_id", UUID(as_uuid=True), primary_key=True),
        sa.Column("shop_id", UUID(as_uuid=True), nullable=False),
        sa.Column("supplier_id", UUID(as_uuid=True), nullable=False),
        sa.Column("imported_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("delivered", sa.Integer, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("delivered >= 0", name="supplier_key_batches_delivered"),
        sa.ForeignKeyConstraint(
            ["shop_id", "supplier_id"],
            ["suppliers.shop_id", "suppliers.id"],
            name="supplier_key_batches_shop_supplier",
        ),
    )
    op.create_index(
        "supplier_key_batches_supplier", "supplier_key_batches", ["shop_id", "supplier_id", "imported_at"]
    )


def downgrade() -> None:
    op.drop_table("supplier_key_batches")
