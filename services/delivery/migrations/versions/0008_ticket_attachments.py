"""Ticket images: each image of a ticket message (the buyer's or the shop's), its bytes in Postgres beside the
ticket (one transaction with its message, one backup, no shared volume between replicas; at most 2 MB each,
three a message), its media type as its content showed it (PNG, JPEG, WebP: the type it is served as).

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


def upgrade() -> None:
    op.create_table(
        "ticket_attachments",
        sa.Column("id", UUID(as_uuid=True), primary_key=True),
        sa.Column("shop_id", UUID(as_uuid=True), nullable=False),
        sa.Column("ticket_id", UUID(as_uuid=True), nullable=False),
        sa.Column("message_id", UUID(as_uuid=True), nullable=False),
        sa.Column("media_type", sa.Text, nullable=False),
        sa.Column("size", sa.Integer, nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("content", sa.LargeBinary, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "media_type IN ('image/png', 'image/jpeg', 'image/webp')", name="ticket_attachments_media_type"
        ),
        sa.CheckConstraint(
            "size > 0 AND size <= 2097152 AND size = octet_length(content)", name="ticket_attachments_size"
        ),
    )
    # images are read whole and never searched: keep them out of the table's main pages
    op.execute("ALTER TABLE ticket_attachments ALTER COLUMN content SET STORAGE EXTERNAL")
    op.create_index("ticket_attachments_ticket", "ticket_attachments", ["shop_id", "ticket_id"])


def downgrade() -> None:
    op.drop_table("ticket_attachments")
