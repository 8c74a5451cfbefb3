"""A held order released for delivery: who released it, why and when (one row per order: an order is
released once).

Revision ID: 0014
Revises: 0013
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import UUID

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "order_releases",
        sa.Column("order_id", UUID(as_uuid=True), sa.ForeignKey("orders.id"), primary_key=True),
        sa.Column("shop_id", UUID(as_uuid=True), nullable=False),
        sa.Column("held_for", sa.Text, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("released_by", sa.Text, nullable=False),
        sa.Column("released_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("order_releases")
