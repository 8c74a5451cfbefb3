"""Channels: buyer phone and order facts in the contacts read model, provider ids and latency on
notifications, in-site messages for the order page, and the webhook delivery log.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("buyer_contacts", sa.Column("phone", sa.Text))
    op.add_column("buyer_contacts", sa.Column("quantity", sa.Integer))
    op.add_column("buyer_contacts", sa.Column("amount", sa.BigInteger))
    op.add_column("buyer_contacts", sa.Column("currency", sa.Text))
    op.add_column("notifications", sa.Column("provider_message_id", sa.Text))
    op.add_column("notifications", sa.Column("latency_ms", sa.Integer))
    op.add_column(
        "notifications",
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    )
    op.create_table(
        "in_site_messages",
        sa.Column("id", postgresql.UUID(as_uuid=True), primary_key=True),
        sa.Column("order_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("template", sa.Text, nullable=False),
        sa.Column("locale", sa.Text, nullable=False),
        sa.Column("subject", sa.Text, nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.UniqueConstraint("order_id", "template", name="in_site_messages_once"),
    )
    op.create_table(
        "webhook_deliveries",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.Text, nullable=False),
        sa.Column("order_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("template", sa.Text, nullable=False),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("attempt", sa.Integer, nullable=False),
        sa.Column("status_code", sa.Integer),
        sa.Column("outcome", sa.Text, nullable=False),
        sa.Column("error", sa.Text),
        sa.Column("latency_ms", sa.Integer, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.CheckConstraint("outcome IN ('delivered', 'failed')", name="webhook_deliveries_outcome"),
    )
    op.create_index("webhook_deliveries_by_event", "webhook_deliveries", ["event_id", "id"])


def downgrade() -> None:
    op.drop_table("webhook_deliveries")
    op.drop_table("in_site_messages")
    op.drop_column("notifications", "updated_at")
    op.drop_column("notifications", "latency_ms")
    op.drop_column("notifications", "provider_message_id")
    for column in ("currency", "amount", "quantity", "phone"):
        op.drop_column("buyer_contacts", column)
