"""Messaging tables and deliveries.

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


def upgrade() -> None:
    create_messaging_tables()
    op.create_table(
        "deliveries",
        sa.Column("id", postgresql.UUID(as_uuid=True), primary_key=True),
        sa.Column("order_id", postgresql.UUID(as_uuid=True), nullable=False, unique=True),
        sa.Column("mode", sa.Text, nullable=False),
        sa.Column("item_count", sa.Integer, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="1"),
        sa.Column("reason", sa.Text),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("completed_at", sa.DateTime(timezone=True)),
        sa.Column("latency_ms", sa.Integer),
        sa.CheckConstraint("status IN ('succeeded', 'failed')", name="deliveries_status"),
    )


def downgrade() -> None:
    op.drop_table("deliveries")
    op.drop_table("inbox")
    op.drop_table("outbox")
