"""Messaging tables, buyer contacts (read model of OrderPlaced) and notifications.

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
        "buyer_contacts",
        sa.Column("order_id", postgresql.UUID(as_uuid=True), primary_key=True),
        sa.Column("order_no", sa.Text, nullable=False),
        sa.Column("email", sa.Text, nullable=False),
        sa.Column("locale", sa.Text, nullable=False),
        sa.Column("product_title", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    )
    op.create_table(
        "notifications",
        sa.Column("id", postgresql.UUID(as_uuid=True), primary_key=True),
        sa.Column("order_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("template", sa.Text, nullable=False),
        sa.Column("channel", sa.Text, nullable=False),
        sa.Column("recipient", sa.Text, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("error", sa.Text),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("sent_at", sa.DateTime(timezone=True)),
        sa.UniqueConstraint("order_id", "template", "channel", name="notifications_once"),
        sa.CheckConstraint("status IN ('pending', 'sent', 'failed')", name="notifications_status"),
    )


def downgrade() -> None:
    op.drop_table("notifications")
    op.drop_table("buyer_contacts")
    op.drop_table("inbox")
    op.drop_table("outbox")
